"""Receives the "Batch Job State Change" events (RUNNING, SUCCEEDED, FAILED) of the jobs that
report to a task: each is recorded on its batch's audit item, and a job that stopped without its
script reporting (killed, out of memory, never started its script, exited 0 without a callback)
fails its task at once instead of leaving it to the heartbeat timeout. Its task token is found
in the task token table under the reference the job was given; a task that has already closed
(the script did report) is left as it is.
"""

import os
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from batch_job import BatchJob, BatchJobStateChange
from job_audit import record_job_state
from shared import client
from task_callback import CallbackRequest, deliver
from usage import METER, metered

# The job definition's default taskRef parameter: the job reports to no task.
NO_TASK = "none"

logger = Logger()
tracer = Tracer()
sfn = client("stepfunctions")
dynamodb = client("dynamodb")


def token_for(reference: str | None) -> str | None:
    """The task token a job was given by reference (see the submit function); None when there is none."""
    if not reference or reference == NO_TASK:
        return None
    item = dynamodb.get_item(
        TableName=os.environ["TASK_TOKEN_TABLE"], Key={"ref": {"S": reference}}, ConsistentRead=True
    ).get("Item")
    return item["taskToken"]["S"] if item else None


def failure_of(job: BatchJob, token: str) -> CallbackRequest:
    where = f"job {job.job_id} ({job.job_name})"
    if job.status == "SUCCEEDED":
        cause = f"{where} exited 0 without reporting its result to the task"
        return CallbackRequest(taskToken=token, status="FAILED", error="Batch.JobSucceededWithoutCallback", cause=cause)
    reason = job.container.reason or job.status_reason or "no reason given"
    cause = f"{where} FAILED after {len(job.attempts)} attempt(s): {reason}; exit code {job.container.exit_code}"
    return CallbackRequest(taskToken=token, status="FAILED", error="Batch.JobFailed", cause=cause)


@logger.inject_lambda_context(correlation_id_path="detail.jobId")
@tracer.capture_lambda_handler
@metered(dynamodb)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    job = parse(event=event, model=BatchJobStateChange).detail
    run_id, first = job.parameters.get("auditRunId"), job.parameters.get("auditBatch")
    if run_id and first and first.lstrip("-").isdigit():
        METER.charge_to(run_id, int(first))
    # Recorded before the task is failed: the batch's account reads the attempts from there.
    recorded = record_job_state(dynamodb, job)
    if job.status == "RUNNING":
        return {"delivered": False, "recorded": recorded}
    token = token_for(job.parameters.get("taskRef"))
    if token is None:
        logger.info("stopped job carries no task token", extra={"job": job.job_id})
        return {"delivered": False, "reason": "NoTaskToken"}
    return deliver(sfn, failure_of(job, token))
