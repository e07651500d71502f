"""Completes a waitForTaskToken task: SendTaskSuccess with the given output, or SendTaskFailure.

It also receives "Batch Job State Change" events (RUNNING, SUCCEEDED, FAILED) of the jobs that
report to a task, recorded in the audit table; and for jobs that stopped: a job whose task token
(kept in the task token table under the reference the job was given) is still waiting and that
stopped without its script reporting (killed, out of memory, never started its script,
exited 0 without a callback) fails its task at once instead of leaving it to the heartbeat
timeout. A callback for a task that is already closed (the script did report; a late or duplicate
callback) is logged and ignored: it changes nothing, so it is not an error.
"""

import json
import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import ValidationError, parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from botocore.exceptions import ClientError
from callback_request import BatchJobStateChange, CallbackRequest
from job_audit import record_job_state

# The job definition's default taskRef parameter: the job reports to no task.
NO_TASK = "none"
# Errors meaning the task no longer waits: it completed, timed out, or the token is unknown.
TASK_CLOSED_ERRORS = {"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"}

logger = Logger()
tracer = Tracer()
CLIENT_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 5})
sfn = boto3.client("stepfunctions", config=CLIENT_CONFIG)
dynamodb = boto3.client("dynamodb", config=CLIENT_CONFIG)


def redact(token: str) -> str:
    """A task token is a bearer credential: log only its last characters."""
    return f"...{token[-8:]}"


def send(request: CallbackRequest) -> None:
    if request.status == "SUCCEEDED":
        sfn.send_task_success(taskToken=request.task_token, output=json.dumps(request.output))
    else:
        sfn.send_task_failure(taskToken=request.task_token, error=request.error, cause=request.cause)


def token_for(reference: str | None) -> str | None:
    """The task token a job was given by reference (see the submit function); None when there is none."""
    if not reference or reference == NO_TASK:
        return None
    item = dynamodb.get_item(
        TableName=os.environ["TASK_TOKEN_TABLE"], Key={"ref": {"S": reference}}, ConsistentRead=True
    ).get("Item")
    return item["taskToken"]["S"] if item else None


def request_for_stopped_job(change: BatchJobStateChange) -> CallbackRequest | None:
    job = change.detail
    token = token_for(job.parameters.get("taskRef"))
    if token is None:
        return None
    where = f"job {job.job_id} ({job.job_name})"
    if job.status == "SUCCEEDED":
        cause = f"{where} exited 0 without reporting its result to the task"
        return CallbackRequest(taskToken=token, status="FAILED", error="Batch.JobSucceededWithoutCallback", cause=cause)
    reason = job.container.reason or job.status_reason or "no reason given"
    cause = f"{where} FAILED after {len(job.attempts)} attempt(s): {reason}; exit code {job.container.exit_code}"
    return CallbackRequest(taskToken=token, status="FAILED", error="Batch.JobFailed", cause=cause)


@logger.inject_lambda_context(correlation_id_path="executionArn || detail.jobId")
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if isinstance(event, dict) and event.get("source") == "aws.batch":
        change = parse(event=event, model=BatchJobStateChange)
        # Recorded before the task is failed: the parent's account reads the attempts from there.
        recorded = record_job_state(dynamodb, change.detail)
        if change.detail.status == "RUNNING":
            return {"delivered": False, "recorded": recorded}
        request = request_for_stopped_job(change)
        if request is None:
            logger.info("stopped job carries no task token", extra={"job": event["detail"].get("jobId")})
            return {"delivered": False, "reason": "NoTaskToken"}
        return deliver(request)
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
    return deliver(request)


def deliver(request: CallbackRequest) -> dict[str, Any]:
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
