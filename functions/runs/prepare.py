"""Prepares a run before any job starts: reads the request's entries (inline, from an S3 object, or
the failed entries of an earlier run), checks every one, writes them to the run's entries file,
which the parent's Distributed Map reads, and records the run in the audit table.

A request with any problem is refused whole, every problem named with its place, so that the
execution fails at once with a cause that says exactly what to fix.
"""

import os
import re
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import ValidationError
from aws_lambda_powertools.utilities.typing import LambdaContext
from entries import (
    MAX_PROBLEMS_LISTED,
    InvalidRequestError,
    from_inline,
    from_rerun,
    from_source,
    request_shape_problems,
    write_entries,
)
from request_model import Envelope, Request
from run_layout import entries_key, map_prefix, results_prefix
from s3_upload import S3Upload
from shared import client, validation_problems
from usage import METER, metered

logger = Logger()
tracer = Tracer()
s3 = client("s3")
RUN_ID = re.compile(r"[A-Za-z0-9_-]{1,80}")
dynamodb = client("dynamodb")


def refused(problems: list[str]) -> dict[str, Any]:
    listed = "; ".join(problems[:MAX_PROBLEMS_LISTED])
    more = len(problems) - MAX_PROBLEMS_LISTED
    cause = f"{len(problems)} problem(s): {listed}" + (f"; and {more} more" if more > 0 else "")
    logger.warning("request refused", extra={"problems": len(problems)})
    return {"valid": False, "error": "InvalidRequest", "cause": cause}


def settings(request: Request, total: int) -> dict[str, Any]:
    """The run's settings: the request's, else the stack's. Step Functions fails the Map Run past
    either threshold, so the one not given is set where it never binds."""
    percentage = request.tolerated_failure_percentage
    count = request.tolerated_failure_count
    if percentage is None and count is None:
        percentage = float(os.environ["TOLERATED_FAILURE_PERCENTAGE"])
    return {
        "batchSize": request.batch_size or int(os.environ["BATCH_SIZE"]),
        "toleratedFailurePercentage": 100.0 if percentage is None else percentage,
        "toleratedFailureCount": total if count is None else count,
        "patterns": request.patterns or os.environ["PATTERNS"],
    }


def entry_settings(request: Request) -> dict[str, Any]:
    """How each entry runs: the stack's settings, with the request's where it gives them. Another
    command only where the stack allows it: whoever may start a run would otherwise run any code
    they like with the job's role."""
    overrides = request.entry.model_dump(exclude_none=True) if request.entry else {}
    if "command" in overrides and os.environ["ALLOW_REQUEST_COMMAND"] != "true":
        raise InvalidRequestError(
            [
                "entry.command: this stack runs its own command only (deploy it with AllowRequestCommand=true "
                "to let requests choose theirs)"
            ]
        )
    chosen = {
        "command": os.environ["ENTRY_COMMAND"],
        "timeout_seconds": int(os.environ["ENTRY_TIMEOUT_SECONDS"]),
        "attempts": int(os.environ["ENTRY_ATTEMPTS"]),
        "backoff_seconds": int(os.environ["ENTRY_BACKOFF_SECONDS"]),
        "parallelism": int(os.environ["ENTRY_PARALLELISM"]),
    } | overrides
    return {
        "command": chosen["command"],
        "timeoutSeconds": chosen["timeout_seconds"],
        "attempts": chosen["attempts"],
        "backoffSeconds": chosen["backoff_seconds"],
        "parallelism": chosen["parallelism"],
    }


def entry_fits_its_job(entry: dict[str, Any]) -> list[str]:
    """An entry using its every attempt to the end must still end before its job's limits (Batch's
    JobAttemptDurationSeconds, the task's JobCallbackTimeoutSeconds), or no such entry could ever fail
    alone. A whole batch is bounded by the same limits: past them, its job fails, and its entries
    with it (rerunOf runs them again)."""
    if not entry["timeoutSeconds"]:
        return []
    retries = sum(entry["backoffSeconds"] << n for n in range(entry["attempts"] - 1))
    worst = entry["attempts"] * entry["timeoutSeconds"] + retries
    allowed = min(int(os.environ["JOB_CALLBACK_TIMEOUT_SECONDS"]), int(os.environ["JOB_ATTEMPT_DURATION_SECONDS"]))
    if worst <= allowed:
        return []
    return [
        f"entry: {entry['attempts']} attempt(s) of up to {entry['timeoutSeconds']} s and their backoff could take "
        f"{worst} s, more than a job may run on this stack ({allowed} s, JobAttemptDurationSeconds and "
        "JobCallbackTimeoutSeconds): lower entry.timeoutSeconds or entry.attempts"
    ]


def job_settings(patterns: str) -> dict[str, int]:
    """What every batch of the run needs, from the stack's parameters (as numbers). A run that asks
    for the full path on a stack deployed for the lean one runs fewer batches at once: each runs an
    array of ARRAY_JOB_SIZE jobs, and the deploy checked MapMaxConcurrency for one job a batch (jobs
    past MaxVcpus / JobVcpu would wait in the queue past their heartbeat)."""
    nested_wait = int(os.environ["NESTED_WAIT_SECONDS"])
    array_size = int(os.environ["ARRAY_JOB_SIZE"])
    concurrency = int(os.environ["MAP_MAX_CONCURRENCY"])
    if patterns == "full" and array_size >= 2:
        jobs_at_once = int(float(os.environ["MAX_VCPUS"]) / float(os.environ["JOB_VCPU"]))
        concurrency = max(1, min(concurrency, jobs_at_once // array_size))
    return {
        "sleepSeconds": int(os.environ["JOB_SLEEP_SECONDS"]),
        "arrayJobSize": int(os.environ["ARRAY_JOB_SIZE"]),
        "nestedWaitSeconds": nested_wait,
        # The nested machine's callback waits 360 s and is retried once: 2 x 360 plus a margin.
        "nestedTimeoutSeconds": nested_wait + 780,
        "jobCallbackTimeoutSeconds": int(os.environ["JOB_CALLBACK_TIMEOUT_SECONDS"]),
        "jobHeartbeatSeconds": int(os.environ["JOB_HEARTBEAT_SECONDS"]),
        "maxConcurrency": concurrency,
    }


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metered(dynamodb)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run_id = event["runId"]
    if not RUN_ID.fullmatch(run_id):
        return refused([f"the execution's name {run_id!r}: a run's name is 1 to 80 letters, digits, - and _"])
    not_a_request = request_shape_problems(event["request"])
    if not_a_request:
        return refused(not_a_request)
    try:
        request = Envelope.model_validate(event["request"]).input
    except ValidationError as error:
        return refused(validation_problems(error))
    try:
        entry = entry_settings(request)
    except InvalidRequestError as problems:
        return refused(problems.problems)
    too_long = entry_fits_its_job(entry)
    if too_long:
        return refused(too_long)
    bucket = os.environ["RUNS_BUCKET"]
    if request.entries is not None:
        entries = from_inline(request.entries)
    elif request.source is not None:
        entries = from_source(s3, request.source)
    else:
        entries = from_rerun(s3, bucket, request.rerun_of)
    # The entries file is written to S3 as it is read, in parts: neither memory nor /tmp holds it.
    upload = S3Upload(s3, bucket, entries_key(run_id))
    try:
        total = write_entries(entries, upload, int(os.environ["MAX_ENTRIES"]))
    except InvalidRequestError as problems:
        upload.abort()
        return refused(problems.problems)
    except BaseException:
        upload.abort()
        raise
    chosen = settings(request, total)
    size = upload.complete()
    run = {"runId": run_id, "total": total, **chosen, "settings": job_settings(chosen["patterns"]) | {"entry": entry}}
    record_run(run, request)
    METER.charge_to(run_id, -1)
    logger.info("run prepared", extra={**run, "entries_bytes": size})
    return {
        "valid": True,
        **run,
        "entries": {"bucket": bucket, "key": entries_key(run_id)},
        "results": {"bucket": bucket, "prefix": results_prefix(run_id)},
        "mapResultsPrefix": map_prefix(run_id),
    }


def record_run(run: dict[str, Any], request: Request) -> None:
    """The run's summary item (entryIndex -1), RUNNING, with what it holds. A retried invocation
    finds it there and leaves it."""
    source = (
        f"s3://{request.source.bucket}/{request.source.key}"
        if request.source
        else f"rerun of {request.rerun_of}"
        if request.rerun_of
        else "inline"
    )
    try:
        dynamodb.put_item(
            TableName=os.environ["AUDIT_TABLE"],
            Item={
                "runId": {"S": run["runId"]},
                "entryIndex": {"N": "-1"},
                "status": {"S": "RUNNING"},
                "total": {"N": str(run["total"])},
                "succeeded": {"N": "0"},
                "failed": {"N": "0"},
                "batchSize": {"N": str(run["batchSize"])},
                "source": {"S": source},
                "startedAt": {"S": datetime.now(UTC).isoformat(timespec="milliseconds")},
            },
            ConditionExpression="attribute_not_exists(runId)",
        )
    except dynamodb.exceptions.ConditionalCheckFailedException:
        logger.info("run already recorded", extra={"run_id": run["runId"]})
