"""Accounts for one batch once its job has reported, or once it cannot: each entry's result is in
the run's results (made from the job's report; every entry FAILED with the batch's error when the
job failed, went silent or never started), and the batch's audit item holds its counts, exactly
once however often this runs (a conditional write of that item alone).

A batch with a failed entry then fails its child execution (EntriesFailed), so that the
Distributed Map counts its entries against the run's tolerated failures.
"""

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from batch_report import EntryRecord, ReportError, records, result
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field
from run_cost import child_transitions, job_requests
from run_layout import outputs_prefix, report_key, result_line, results_key
from run_stats import Durations, Failures
from shared import client
from usage import METER, metered

logger = Logger()
tracer = Tracer()
s3 = client("s3")
dynamodb = client("dynamodb")
batch = client("batch")


class EntriesFailed(Exception):  # noqa: N818 - the error name Step Functions reports and the Map counts
    """Some entries of the batch failed: the child fails with this error name."""


class JobReport(BaseModel):
    """What the job sent with SendTaskSuccess."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    job_id: str = Field(alias="jobId")
    attempt: int = 1
    entries: int = Field(ge=0)
    failed: int = Field(ge=0)


class Batch(BaseModel):
    """The child's state: its batch of entries and how its job ended."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    items: list[dict[str, Any]] = Field(alias="Items", min_length=1)
    batch_input: dict[str, Any] = Field(alias="BatchInput")
    job: JobReport | None = None
    failure: dict[str, Any] | None = None


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metered(dynamodb)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    batch = Batch.model_validate(event["batch"])
    run_id, items = batch.batch_input["runId"], batch.items
    first, last = items[0]["index"], items[-1]["index"]
    METER.charge_to(run_id, first)
    stats = BatchStats()
    if batch.job is not None:
        job_id = batch.job.job_id
        lines = reported_results(run_id, items, batch.job, stats)
        error = f"{sum(stats.failures.counts.values())} of {len(items)} entries failed (see their results)"
    else:
        failure = batch.failure or {}
        error, cause = failure.get("Error") or "Batch.Failed", failure.get("Cause") or ""
        job_id = submitted_job(run_id, first)
        if job_id:
            stop_job(job_id, f"batch {first}-{last} of run {run_id} ended with {error}")
        lines = every_entry_failed(items, error, cause, job_id, stats)
    body = "".join(lines).encode()
    s3.put_object(Bucket=os.environ["RUNS_BUCKET"], Key=results_key(run_id, first, last), Body=body)
    failed = sum(stats.failures.counts.values())
    succeeded = len(items) - failed
    counted = count_once(run_id, (first, last), succeeded, failed, job_id, stats)
    if counted:  # the child's transitions and its job's requests, once however often this runs
        METER.counts["transitions"] += child_transitions(event["batch"])
        if batch.job is not None:
            METER.counts.update(job_requests(stats.output_files, batch.job.attempt))
    outcome = {"first": first, "last": last, "succeeded": succeeded, "failed": failed, "counted": counted}
    logger.info("batch accounted", extra=outcome)
    if failed:
        raise EntriesFailed(f"batch {first}-{last}: {error}")
    return outcome


@dataclass
class BatchStats:
    """What the batch adds to its run's durations and failures (see run_stats.py)."""

    entries: Durations = field(default_factory=Durations)
    failures: Failures = field(default_factory=Failures)
    started_ms: int | None = None
    ended_ms: int | None = None
    output_files: int = 0

    def add(self, record: EntryRecord) -> None:
        self.entries.add(record.ended_ms - record.started_ms)
        self.output_files += record.output_files
        self.started_ms = min(record.started_ms, self.started_ms or record.started_ms)
        self.ended_ms = max(record.ended_ms, self.ended_ms or record.ended_ms)

    def item_values(self) -> dict[str, dict[str, Any]]:
        errors, examples = self.failures.to_items()
        values = {":entryMs": self.entries.to_item(), ":entryMaxMs": {"N": str(self.entries.max_ms)}}
        values |= {":errors": errors, ":errorExamples": examples}
        span = (self.ended_ms - self.started_ms) if self.started_ms is not None and self.ended_ms else 0
        return values | {":batchMs": {"N": str(span)}}


def every_entry_failed(
    items: list[dict[str, Any]], error: str, cause: str, job_id: str | None, stats: BatchStats
) -> list[str]:
    """The result lines of a batch whose entries all failed with one error; STATS counts them."""
    stats.failures.add(error, items[0]["index"], items[0]["name"], cause, count=len(items))
    return [result_line(item, "FAILED", error, cause, jobId=job_id) for item in items]


def reported_results(run_id: str, items: list[dict[str, Any]], job: JobReport, stats: BatchStats) -> list[str]:
    """Each entry's result line, from the report its job wrote; STATS takes in each entry."""
    first, last = items[0]["index"], items[-1]["index"]
    bucket = os.environ["RUNS_BUCKET"]
    try:
        body = s3.get_object(Bucket=bucket, Key=report_key(run_id, first, last))["Body"].read()
        by_index = {record.index: record for record in records(body)}
    except (ReportError, ClientError) as error:
        # A missing report reads as AccessDenied, not NoSuchKey: this role may not list the bucket.
        if isinstance(error, ClientError) and error.response["Error"]["Code"] not in ("NoSuchKey", "AccessDenied"):
            raise
        cause = f"the job's report cannot be read: {error}"
        return every_entry_failed(items, "Batch.ReportUnreadable", cause, job.job_id, stats)
    outputs = f"s3://{bucket}/{outputs_prefix(run_id)}"
    lines = []
    for item in items:
        record = by_index.get(item["index"])
        status, error, cause, fields = result(record, outputs)
        if record is not None:
            stats.add(record)
        if status != "SUCCEEDED":
            stats.failures.add(error, item["index"], item["name"], cause)
        lines.append(result_line(item, status, error, cause, jobId=job.job_id, attempt=job.attempt, **fields))
    return lines


def submitted_job(run_id: str, first: int) -> str | None:
    """The job the submit function recorded for the batch, if it got that far."""
    item = dynamodb.get_item(
        TableName=os.environ["AUDIT_TABLE"],
        Key={"runId": {"S": run_id}, "entryIndex": {"N": str(first)}},
        ProjectionExpression="jobId",
    ).get("Item")
    return item["jobId"]["S"] if item and "jobId" in item else None


def stop_job(job_id: str, reason: str) -> None:
    """A job whose task is closed (silent, timed out, failed) must not run on: nothing would
    account for what it does. TerminateJob does nothing to a job that has already ended."""
    try:
        batch.terminate_job(jobId=job_id, reason=reason[:255])
    except ClientError as exc:
        logger.warning("job not terminated", extra={"job_id": job_id, "reason": exc.response["Error"]["Code"]})


def count_once(
    run_id: str, span: tuple[int, int], succeeded: int, failed: int, job_id: str | None, stats: BatchStats
) -> bool:
    """Record the batch (entries SPAN) as accounted, unless it was before; True when recorded now.

    The batch's own item is the record: one conditional write, which no other batch touches (a
    transaction that also wrote the run's summary item would be cancelled, TransactionConflict,
    whenever two batches accounted at once). The finish function sums these items."""
    first, last = span
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    values = {
        ":status": {"S": "FAILED" if failed else "SUCCEEDED"},
        ":last": {"N": str(last)},
        ":s": {"N": str(succeeded)},
        ":f": {"N": str(failed)},
        ":now": {"S": now},
        **stats.item_values(),
    }
    if job_id:
        values[":job"] = {"S": job_id}
    try:
        dynamodb.update_item(
            TableName=os.environ["AUDIT_TABLE"],
            Key={"runId": {"S": run_id}, "entryIndex": {"N": str(first)}},
            UpdateExpression="SET #status = :status, lastIndex = :last, succeeded = :s, failed = :f, "
            "accountedAt = :now, entryMs = :entryMs, entryMaxMs = :entryMaxMs, batchMs = :batchMs, "
            "#errors = :errors, errorExamples = :errorExamples" + (", jobId = :job" if job_id else ""),
            ConditionExpression="attribute_not_exists(accountedAt)",
            ExpressionAttributeNames={"#status": "status", "#errors": "errors"},
            ExpressionAttributeValues=values,
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        logger.info("batch already accounted", extra={"run_id": run_id, "first": first})
        return False
    add_progress(run_id, succeeded, failed, now)
    return True


def add_progress(run_id: str, succeeded: int, failed: int, now: str) -> None:
    """The run's live counters, for whoever watches it go: a plain ADD (no transaction, so nothing
    to conflict with). A progress view only: an invocation that dies between the batch's record and
    this adds nothing when retried; the finish function writes the exact counts."""
    try:
        dynamodb.update_item(
            TableName=os.environ["AUDIT_TABLE"],
            Key={"runId": {"S": run_id}, "entryIndex": {"N": "-1"}},
            UpdateExpression="ADD succeeded :s, failed :f SET updatedAt = :now",
            ConditionExpression="attribute_exists(runId) AND attribute_not_exists(endedAt)",
            ExpressionAttributeValues={":s": {"N": str(succeeded)}, ":f": {"N": str(failed)}, ":now": {"S": now}},
        )
    except ClientError as exc:
        logger.warning("run's live counters not updated", extra={"reason": exc.response["Error"]["Code"]})
