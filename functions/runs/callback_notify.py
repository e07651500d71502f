"""Completes a waitForTaskToken task (the nested machine's Notify state): SendTaskSuccess with the
given output, or SendTaskFailure. A request that does not parse fails its task with InvalidInput,
when it names one."""

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import ValidationError, parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from shared import client, validation_problems
from task_callback import CallbackRequest, deliver

logger = Logger()
tracer = Tracer()
sfn = client("stepfunctions")


@logger.inject_lambda_context(correlation_id_path="executionArn")
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        request = parse(event=event, model=CallbackRequest)
    except ValidationError as exc:
        details = "; ".join(validation_problems(exc))
        token = event.get("taskToken") if isinstance(event, dict) else None
        if not isinstance(token, str) or not token:
            raise ValueError(f"callback request rejected and no task to report to: {details}") from exc
        request = CallbackRequest(
            taskToken=token, status="FAILED", error="InvalidInput", cause=f"callback request rejected: {details}"
        )
    return deliver(sfn, request)
