"""Completing a waiting task: the callback request, and its delivery to Step Functions.

A callback for a task that is already closed (a late or duplicate callback; the job did report)
changes nothing, so it is logged and ignored rather than an error.
"""

import json
from typing import Any, Literal

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field
from shared import TASK_CLOSED_ERRORS, redact

logger = Logger(child=True)


class CallbackRequest(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    task_token: str = Field(alias="taskToken", min_length=1, max_length=2048)
    status: Literal["SUCCEEDED", "FAILED"]
    output: Any = Field(default_factory=dict)
    error: str = Field(default="TaskFailed", min_length=1, max_length=256)
    cause: str = Field(default="", max_length=32768)


def deliver(sfn: Any, request: CallbackRequest) -> dict[str, Any]:
    try:
        if request.status == "SUCCEEDED":
            sfn.send_task_success(taskToken=request.task_token, output=json.dumps(request.output))
        else:
            sfn.send_task_failure(taskToken=request.task_token, error=request.error, cause=request.cause)
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code not in TASK_CLOSED_ERRORS:
            raise
        logger.warning(
            "task already closed; callback ignored", extra={"reason": code, "task_token": redact(request.task_token)}
        )
        return {"delivered": False, "reason": code}

    logger.info("callback sent", extra={"status": request.status, "task_token": redact(request.task_token)})
    return {"delivered": True, "status": request.status}
