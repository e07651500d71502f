"""Completes a waitForTaskToken task: SendTaskSuccess with the given output, or SendTaskFailure.

A callback for a task that is already closed (a late or duplicate callback) is logged and
ignored: it changes nothing, so it is not an error.
"""

import json
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import ValidationError, parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from botocore.exceptions import ClientError
from callback_request import CallbackRequest

# Errors meaning the task no longer waits: it completed, timed out, or the token is unknown.
TASK_CLOSED_ERRORS = {"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"}

logger = Logger()
tracer = Tracer()
sfn = boto3.client("stepfunctions", config=Config(retries={"mode": "standard", "total_max_attempts": 5}))


def redact(token: str) -> str:
    """A task token is a bearer credential: log only its last characters."""
    return f"...{token[-8:]}"


def send(request: CallbackRequest) -> None:
    if request.status == "SUCCEEDED":
        sfn.send_task_success(taskToken=request.task_token, output=json.dumps(request.output))
    else:
        sfn.send_task_failure(taskToken=request.task_token, error=request.error, cause=request.cause)


@logger.inject_lambda_context(correlation_id_path="executionArn")
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        request = parse(event=event, model=CallbackRequest)
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        token = event.get("taskToken") if isinstance(event, dict) else None
        if not isinstance(token, str) or not token:
            raise ValueError(f"callback request rejected and no task to report to: {details}") from exc
        request = CallbackRequest(
            taskToken=token, status="FAILED", error="InvalidInput", cause=f"callback request rejected: {details}"
        )

    try:
        send(request)
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
