"""The audit table's view of a batch's Batch job (see README, "The audit table"): each attempt's
start (the batch becomes RUNNING) and the job's end (its status, reason and attempts)."""

import os
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from batch_job import BatchJob
from botocore.exceptions import ClientError

logger = Logger(child=True)


def attempts_so_far(job: BatchJob) -> int:
    """Attempts that ended, plus the one now running. Batch lists an attempt once it has ended, the
    emulator from its start: counting the ended ones is right for both."""
    ended = sum(1 for attempt in job.attempts if attempt.get("stoppedAt"))
    return ended + (1 if job.status == "RUNNING" else 0)


def record_job_state(dynamodb: Any, job: BatchJob) -> bool:
    """Update the batch's item, if the job carries its key; events can arrive out of order, so an
    item never goes back to fewer attempts, nor from a final status to RUNNING."""
    run_id, index = job.parameters.get("auditRunId"), job.parameters.get("auditBatch")
    if not run_id or index is None:
        return False
    attempts = attempts_so_far(job)
    assignments = "jobId = :jobId, jobStatus = :jobStatus, attempts = :attempts, updatedAt = :now"
    condition = "attribute_not_exists(attempts) OR attempts <= :attempts"
    names: dict[str, str] = {}
    values = {
        ":jobId": {"S": job.job_id},
        ":jobStatus": {"S": job.status},
        ":attempts": {"N": str(attempts)},
        ":now": {"S": datetime.now(UTC).isoformat(timespec="milliseconds")},
    }
    if job.status == "RUNNING":
        assignments += ", #status = :running"
        condition = f"({condition}) AND (attribute_not_exists(#status) OR #status IN (:submitted, :running))"
        names["#status"] = "status"
        values |= {":running": {"S": "RUNNING"}, ":submitted": {"S": "SUBMITTED"}}
    else:
        assignments += ", jobStatusReason = :reason"
        values[":reason"] = {"S": job.container.reason or job.status_reason or ""}
    try:
        dynamodb.update_item(
            TableName=os.environ["AUDIT_TABLE"],
            Key={"runId": {"S": run_id}, "entryIndex": {"N": index}},
            UpdateExpression=f"SET {assignments}",
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
            **({"ExpressionAttributeNames": names} if names else {}),
        )
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code == "ConditionalCheckFailedException":
            logger.info("audit item already further along", extra={"job_id": job.job_id, "job_status": job.status})
        else:  # the audit never stops a callback
            logger.warning("audit item not updated", extra={"job_id": job.job_id, "reason": code})
        return False
    return True
