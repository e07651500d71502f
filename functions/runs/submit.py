"""Submits the Batch job of one batch of entries, for a waitForTaskToken task.

The job never receives the token (Batch shows a job's parameters in DescribeJobs, in every job
state-change event and in CloudTrail), nor its entries (Batch's container overrides hold 8,192
characters): the token is kept in the task token table under a random reference, which the job
receives and which only the job's role can read, beside the key of the batch's plan (its entries
and how to run them, batch_plan.py), which this function writes to the runs bucket. The job's
script writes its report and reports back with SendTaskSuccess. When the job cannot be submitted (bad
input, SubmitJob refused), this function fails the waiting task at once, so that the execution
never waits for a callback that cannot come.
"""

import functools
import json
import os
import re
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from aws_lambda_powertools.utilities.parser import ValidationError, parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from batch_plan import plan_text
from batch_report import MAX_OUTPUT_FILES
from botocore.exceptions import ClientError
from run_layout import outputs_prefix, plan_key, report_key
from shared import TASK_CLOSED_ERRORS, client, job_name, redact, validation_problems
from submit_request import SubmitJobRequest
from usage import METER, metered

# ECS caps a task's container overrides at 8,192 characters, JSON punctuation and escaping
# included; Batch on Fargate sends the command (every Ref:: replaced) and its own variables there.
MAX_CONTAINER_OVERRIDES = 8192
# A failure's cause stays in the batch's state with up to 192 KiB of entries: it must leave room
# under Step Functions' 256 KiB.
MAX_CAUSE_CHARS = 4096
# Every job is tagged with its stack: the terminator may stop those only (an IAM condition on it).
JOB_TAG = "sfn-batch-orchestrator:stack"
# One attempt more than the other functions', and short timeouts: the task waits for this function.
CLIENT_SETTINGS = {"attempts": 6, "connect_timeout": 5, "read_timeout": 20}

logger = Logger()
tracer = Tracer()
batch = client("batch", **CLIENT_SETTINGS)
s3 = client("s3", **CLIENT_SETTINGS)
sfn = client("stepfunctions", **CLIENT_SETTINGS)
# Asynchronous invocations can be delivered twice: the task token identifies the submission,
# so a second delivery returns the first one's result instead of submitting a second job.
# Powertools stores only a hash of the token.
dynamodb = client("dynamodb", **CLIENT_SETTINGS)
persistence = DynamoDBPersistenceLayer(table_name=os.environ["IDEMPOTENCY_TABLE"], boto3_client=dynamodb)
idempotency = IdempotencyConfig(
    event_key_jmespath="taskToken",
    raise_on_no_idempotency_key=True,
    expires_after_seconds=int(os.environ.get("IDEMPOTENCY_EXPIRY_SECONDS", "86400")),
)


class TaskNotToldError(Exception):
    """Step Functions could not be told that the task failed: the invocation must fail, so that
    Lambda retries it, rather than leave the task waiting for its timeout."""


def fail_task(token: str, error: str, cause: str) -> dict[str, Any]:
    """Fail the waiting task; raises TaskNotToldError when Step Functions did not hear it."""
    logger.error("failing the waiting task", extra={"error": error, "cause": cause, "task_token": redact(token)})
    try:
        sfn.send_task_failure(taskToken=token, error=error, cause=cause[:MAX_CAUSE_CHARS])
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        logger.warning("task could not be failed", extra={"reason": code})
        # TaskTimedOut / InvalidToken: the task is already closed; nothing is waiting any more.
        if code not in TASK_CLOSED_ERRORS:
            raise TaskNotToldError(f"{error} not reported: {code}") from exc
    return {"submitted": False, "error": error, "cause": cause}


@logger.inject_lambda_context(correlation_id_path="executionArn")
@tracer.capture_lambda_handler
@metered(dynamodb)
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
        details = "; ".join(validation_problems(exc))
        return fail_task(token, "InvalidInput", f"submit request rejected: {details}")
    METER.charge_to(request.run_id, request.first)

    if not task_open(token):
        # Lambda delivered the event after the task had closed (its heartbeat or timeout passed):
        # a job now would work for nobody, and write results over the batch's account.
        logger.warning("the task is closed: nothing submitted", extra={"task_token": redact(token)})
        return {"submitted": False, "error": "TaskClosed"}

    reference = secrets.token_urlsafe(24)
    parameters = {
        "taskRef": reference,
        "reportKey": report_key(request.run_id, request.first, request.last),
        "heartbeatIntervalSeconds": str(max(1, int(os.environ["JOB_HEARTBEAT_SECONDS"]) // 3)),
        "auditRunId": request.run_id,
        "auditBatch": str(request.first),
    }
    overrides = container_overrides_length(command_of(os.environ["JOB_DEFINITION"]), parameters)
    if overrides > MAX_CONTAINER_OVERRIDES:  # only a command changed to carry more could get here
        cause = f"the job's container overrides would take {overrides} characters; Batch on Fargate allows 8192"
        return fail_task(token, "JobTooLarge", cause)

    name = job_name(request.run_id, request.first)
    plan = plan_key(request.run_id, request.first, request.last)
    try:
        s3.put_object(Bucket=os.environ["RUNS_BUCKET"], Key=plan, Body=plan_of(request).encode())
        keep_task(reference, token, plan)
        response = batch.submit_job(
            jobName=name,
            jobQueue=os.environ["JOB_QUEUE"],
            jobDefinition=os.environ["JOB_DEFINITION"],
            parameters=parameters,
            tags={JOB_TAG: os.environ["JOB_TAG_VALUE"]},
        )
    except ClientError as exc:
        error = exc.response["Error"]
        service = {"SubmitJob": "Batch", "PutObject": "S3"}.get(exc.operation_name, "DynamoDB")
        return fail_task(token, f"{service}.{error['Code']}", error.get("Message", str(exc)))

    logger.info("job submitted", extra={"job_id": response["jobId"], "job_name": name, "task_token": redact(token)})
    record_submitted(request, response["jobId"])
    return {"submitted": True, "jobId": response["jobId"], "jobName": name}


def task_open(token: str) -> bool:
    """Whether the task still waits: a heartbeat is refused once it has closed."""
    try:
        sfn.send_task_heartbeat(taskToken=token)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in TASK_CLOSED_ERRORS:
            return False
        raise
    return True


def plan_of(request: SubmitJobRequest) -> str:
    entry = request.entry
    settings = {
        "command": entry.command,
        "timeout": entry.timeout_seconds,
        "attempts": entry.attempts,
        "backoff": entry.backoff_seconds,
        "parallelism": entry.parallelism,
        "outputs": f"s3://{os.environ['RUNS_BUCKET']}/{outputs_prefix(request.run_id)}",
        "run": request.run_id,
        "maxfiles": MAX_OUTPUT_FILES,
    }
    return plan_text(settings, [item.model_dump() for item in request.items])


def keep_task(reference: str, token: str, plan: str) -> None:
    """The token and the key of the batch's plan, where the job reads them by its reference, until
    an hour after the task itself would time out."""
    expires = int(time.time()) + int(os.environ["TASK_TOKEN_TTL_SECONDS"]) + 3600
    dynamodb.put_item(
        TableName=os.environ["TASK_TOKEN_TABLE"],
        Item={
            "ref": {"S": reference},
            "taskToken": {"S": token},
            "planKey": {"S": plan},
            "expiresAt": {"N": str(expires)},
        },
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


def record_submitted(request: SubmitJobRequest, job_id: str) -> None:
    """The batch's audit item: SUBMITTED, with its job and entries. A status already there stays
    (the job's RUNNING event can overtake this write); the audit never fails a submission."""
    try:
        dynamodb.update_item(
            TableName=os.environ["AUDIT_TABLE"],
            Key={"runId": {"S": request.run_id}, "entryIndex": {"N": str(request.first)}},
            UpdateExpression="SET #status = if_not_exists(#status, :submitted), lastIndex = :last, entries = :count, "
            "jobId = :jobId, childExecutionArn = :child, updatedAt = :now",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":submitted": {"S": "SUBMITTED"},
                ":last": {"N": str(request.last)},
                ":count": {"N": str(len(request.items))},
                ":jobId": {"S": job_id},
                ":child": {"S": request.execution_arn},
                ":now": {"S": datetime.now(UTC).isoformat(timespec="milliseconds")},
            },
        )
    except ClientError as exc:
        logger.warning("audit item not updated", extra={"reason": exc.response["Error"]["Code"], "job_id": job_id})
