"""Submits the Batch job of a waitForTaskToken task.

The job never receives the token (Batch shows a job's parameters in DescribeJobs, in every job
state-change event and in CloudTrail): the token is kept in the task token table under a random
reference, which the job receives and which only the job's role can read. The job's script reports
back with SendTaskSuccess/SendTaskFailure. When the job cannot be submitted (bad input, an entry
too large for Batch, SubmitJob refused), this function fails the waiting task at once, so that the
execution never waits for a callback that cannot come.
"""

import functools
import json
import os
import re
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from aws_lambda_powertools.utilities.parser import ValidationError, parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from botocore.exceptions import ClientError
from submit_request import AuditKey, SubmitJobRequest

# ECS caps a task's container overrides at 8,192 characters, JSON punctuation and escaping
# included; Batch on Fargate sends the command (every Ref:: replaced) and its own variables there.
MAX_CONTAINER_OVERRIDES = 8192
# Every job is tagged with its stack: the terminator may stop those only (an IAM condition on it).
JOB_TAG = "sfn-batch-orchestrator:stack"

# "standard" retries throttling errors (TooManyRequestsException) with backoff and jitter.
CLIENT_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 6}, connect_timeout=5, read_timeout=20)

logger = Logger()
tracer = Tracer()
batch = boto3.client("batch", config=CLIENT_CONFIG)
sfn = boto3.client("stepfunctions", config=CLIENT_CONFIG)
# Asynchronous invocations can be delivered twice: the task token identifies the submission,
# so a second delivery returns the first one's result instead of submitting a second job.
# Powertools stores only a hash of the token.
dynamodb = boto3.client("dynamodb", config=CLIENT_CONFIG)
persistence = DynamoDBPersistenceLayer(table_name=os.environ["IDEMPOTENCY_TABLE"], boto3_client=dynamodb)
idempotency = IdempotencyConfig(
    event_key_jmespath="taskToken",
    raise_on_no_idempotency_key=True,
    expires_after_seconds=int(os.environ.get("IDEMPOTENCY_EXPIRY_SECONDS", "86400")),
)


def redact(token: str) -> str:
    """A task token is a bearer credential: log only its last characters."""
    return f"...{token[-8:]}"


def job_name_for(execution_name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]", "-", execution_name)[:124]
    return f"{name}-job" if name[:1].isalnum() else f"j{name}-job"


class TaskNotToldError(Exception):
    """Step Functions could not be told that the task failed: the invocation must fail, so that
    Lambda retries it, rather than leave the task waiting for its timeout."""


def fail_task(token: str, error: str, cause: str) -> dict[str, Any]:
    """Fail the waiting task; raises TaskNotToldError when Step Functions did not hear it."""
    logger.error("failing the waiting task", extra={"error": error, "cause": cause, "task_token": redact(token)})
    try:
        sfn.send_task_failure(taskToken=token, error=error, cause=cause[:32768])
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        logger.warning("task could not be failed", extra={"reason": code})
        # TaskTimedOut / InvalidToken: the task is already closed; nothing is waiting any more.
        if code not in ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken"):
            raise TaskNotToldError(f"{error} not reported: {code}") from exc
    return {"submitted": False, "error": error, "cause": cause}


@logger.inject_lambda_context(correlation_id_path="executionArn")
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    token = event.get("taskToken") if isinstance(event, dict) else None
    if not isinstance(token, str) or not token:
        # Without a token no task can be told; raising records the error on the invocation.
        raise ValueError("event has no taskToken: no waiting task can be reported to")
    idempotency.register_lambda_context(context)
    try:
        return submit_once(event=event)
    except IdempotencyAlreadyInProgressError:
        logger.info(
            "duplicate delivery while the first is in progress: nothing to do", extra={"task_token": redact(token)}
        )
        return {"submitted": False, "duplicate": True}
    except TaskNotToldError:
        raise  # the idempotency record is gone with the exception: Lambda's retry tries again
    except Exception as exc:
        # An unexpected failure (a bug, a missing setting) must not leave the task waiting for a
        # callback that cannot come. Once the task is failed, a retry could change nothing: only
        # when Step Functions could not be told does the invocation fail (and Lambda retry it).
        return fail_task(token, "SubmitFailed", f"{type(exc).__name__}: {exc}")


@idempotent_function(data_keyword_argument="event", persistence_store=persistence, config=idempotency)
def submit_once(event: dict[str, Any]) -> dict[str, Any]:
    return submit(event["taskToken"], event)


def submit(token: str, event: dict[str, Any]) -> dict[str, Any]:
    try:
        request = parse(event=event, model=SubmitJobRequest)
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return fail_task(token, "InvalidInput", f"submit request rejected: {details}")

    reference = secrets.token_urlsafe(24)
    parameters = {
        "taskRef": reference,
        "entry": json.dumps(request.entry, separators=(",", ":")),
        "sleepSeconds": str(request.sleep_seconds),
        "heartbeatIntervalSeconds": str(max(1, int(os.environ["JOB_HEARTBEAT_SECONDS"]) // 3)),
    }
    overrides = container_overrides_length(command_of(os.environ["JOB_DEFINITION"]), parameters)
    if overrides > MAX_CONTAINER_OVERRIDES:
        cause = (
            f"the job's container overrides would take {overrides} characters (the command with the entry, as "
            f"JSON); Batch on Fargate allows {MAX_CONTAINER_OVERRIDES}: pass a reference (an S3 key) instead"
        )
        return fail_task(token, "EntryTooLarge", cause)
    if request.audit:  # the job's state changes are recorded under this key by the notify function
        parameters |= {"auditRunId": request.audit.run_id, "auditEntryIndex": str(request.audit.entry_index)}

    job_name = job_name_for(request.execution_name)
    try:
        keep_token(reference, token)
        response = batch.submit_job(
            jobName=job_name,
            jobQueue=os.environ["JOB_QUEUE"],
            jobDefinition=os.environ["JOB_DEFINITION"],
            parameters=parameters,
            tags={JOB_TAG: os.environ["JOB_TAG_VALUE"]},
        )
    except ClientError as exc:
        error = exc.response["Error"]
        service = "Batch" if exc.operation_name == "SubmitJob" else "DynamoDB"
        return fail_task(token, f"{service}.{error['Code']}", error.get("Message", str(exc)))

    logger.info("job submitted", extra={"job_id": response["jobId"], "job_name": job_name, "task_token": redact(token)})
    if request.audit:
        record_submitted(request.audit, request, response["jobId"])
    return {"submitted": True, "jobId": response["jobId"], "jobName": job_name}


def keep_token(reference: str, token: str) -> None:
    """The token, where the job reads it by its reference, until the task itself would time out."""
    expires = int(time.time()) + int(os.environ["TASK_TOKEN_TTL_SECONDS"]) + 3600
    dynamodb.put_item(
        TableName=os.environ["TASK_TOKEN_TABLE"],
        Item={"ref": {"S": reference}, "taskToken": {"S": token}, "expiresAt": {"N": str(expires)}},
        ConditionExpression="attribute_not_exists(#ref)",
        ExpressionAttributeNames={"#ref": "ref"},
    )


@functools.cache
def command_of(job_definition: str) -> tuple[str, ...]:
    [definition] = batch.describe_job_definitions(jobDefinitions=[job_definition])["jobDefinitions"]
    return tuple(definition["containerProperties"]["command"])


def container_overrides_length(command: tuple[str, ...], parameters: dict[str, str]) -> int:
    """The characters of the overrides Batch will send to ECS: the command with every Ref::
    replaced, and Batch's own variables at their longest (a job id, an attempt, the queue's name,
    a compute environment's name of up to 128 characters), as JSON."""
    resolved = [re.sub(r"Ref::([A-Za-z0-9_]+)", lambda m: parameters.get(m.group(1), m.group(0)), a) for a in command]
    variables = {
        "AWS_BATCH_JOB_ID": "0" * 36,
        "AWS_BATCH_JOB_ATTEMPT": "10",
        "AWS_BATCH_JQ_NAME": os.environ["JOB_QUEUE"].rsplit("/", 1)[-1],
        "AWS_BATCH_CE_NAME": "c" * 128,
    }
    environment = [{"name": name, "value": value} for name, value in variables.items()]
    overrides = {"containerOverrides": [{"name": "default", "command": resolved, "environment": environment}]}
    return len(json.dumps(overrides, separators=(",", ":"), ensure_ascii=False))


def record_submitted(audit: AuditKey, request: SubmitJobRequest, job_id: str) -> None:
    """The entry's audit item: SUBMITTED, with its job. A status already there stays (the job's
    RUNNING event can overtake this write); the audit never fails a submission."""
    try:
        dynamodb.update_item(
            TableName=os.environ["AUDIT_TABLE"],
            Key={"runId": {"S": audit.run_id}, "entryIndex": {"N": str(audit.entry_index)}},
            UpdateExpression="SET #status = if_not_exists(#status, :submitted), #name = :name, jobId = :jobId, "
            "childExecutionArn = :child, updatedAt = :now",
            ExpressionAttributeNames={"#status": "status", "#name": "name"},
            ExpressionAttributeValues={
                ":submitted": {"S": "SUBMITTED"},
                ":name": {"S": str(request.entry.get("name", ""))},
                ":jobId": {"S": job_id},
                ":child": {"S": request.execution_arn},
                ":now": {"S": datetime.now(UTC).isoformat(timespec="milliseconds")},
            },
        )
    except ClientError as exc:
        logger.warning("audit item not updated", extra={"reason": exc.response["Error"]["Code"], "job_id": job_id})
