"""Ends a run: every entry accounted for exactly once, the run's status decided, its summary kept.

The audit table's counters hold what the batches reported. Entries no batch accounted for are given
a result here, so that the results hold every entry once: FAILED with their batch's error when the
batch ran and ended without its account (a child stopped by hand, or aborted when the Map Run
stopped), NOT_RUN with the Map's error when their batch never started. Jobs of the run still
queued or running are terminated first. The run fails when its Map failed; otherwise it succeeds,
failed entries within the tolerance included.
"""

import bisect
import json
import os
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from run_jobs import stop_unfinished
from run_layout import entries_key, result_line, results_key, results_prefix, summary_key
from shared import client

logger = Logger()
tracer = Tracer()
s3 = client("s3")
dynamodb = client("dynamodb")
batch = client("batch")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run, failure = event["run"], event.get("failure")
    run_id, total, bucket = run["runId"], run["total"], os.environ["RUNS_BUCKET"]
    counts = run_counts(run_id)
    if counts["ended"]:  # a repeated call (a retry, a redrive): the first one's report stands
        return json.loads(s3.get_object(Bucket=bucket, Key=summary_key(run_id))["Body"].read())
    # No job outlives its run: one still queued or running (its batch stopped, or past the
    # tolerance) would write results nobody accounts for.
    reason = f"run {run_id} ended: its jobs must not outlive it"
    accounted = accounted_ranges(run_id)
    reported = frozenset(first for first, _ in accounted)
    stopped = stop_unfinished(batch, os.environ["JOB_QUEUE"], run_id, reason, reported)
    failed_unaccounted = not_run = 0
    if counts["succeeded"] + counts["failed"] < total:
        failed_unaccounted, not_run = account_unaccounted(bucket, run, accounted, (failure or {}).get("Error") or "")
    report = {
        "runId": run_id,
        "status": "FAILED" if failure else "SUCCEEDED",
        "total": total,
        "succeeded": counts["succeeded"],
        "failed": counts["failed"] + failed_unaccounted,
        "notRun": not_run,
        "results": f"s3://{bucket}/{results_prefix(run_id)}",
        "summary": f"s3://{bucket}/{summary_key(run_id)}",
    }
    if failure:
        report |= explain(failure, report, run)
    s3.put_object(Bucket=bucket, Key=summary_key(run_id), Body=json.dumps(report, indent=2).encode())
    record_end(report)
    logger.info("run ended", extra={**report, "jobs_stopped": len(stopped)})
    return report


def run_counts(run_id: str) -> dict[str, Any]:
    """The batches' counts of the run (its summary item), and whether the run has ended."""
    item = dynamodb.get_item(
        TableName=os.environ["AUDIT_TABLE"],
        Key={"runId": {"S": run_id}, "entryIndex": {"N": "-1"}},
        ConsistentRead=True,
    )["Item"]
    return {"succeeded": int(item["succeeded"]["N"]), "failed": int(item["failed"]["N"]), "ended": "endedAt" in item}


def failed_batches(bucket: str, run: dict[str, Any]) -> dict[int, tuple[int, str, str]]:
    """first index -> (last index, error, cause) of every batch the Map Run recorded as ended
    without success (its FAILED results: failed, timed out or stopped children, input included)."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{run['mapResultsPrefix']}/")
    found: dict[int, tuple[int, str, str]] = {}
    for key in (o["Key"] for page in pages for o in page.get("Contents", [])):
        if not key.rsplit("/", 1)[-1].startswith("FAILED_"):
            continue
        for line in s3.get_object(Bucket=bucket, Key=key)["Body"].iter_lines():
            if not line.strip():
                continue
            record = json.loads(line)
            items = json.loads(record["Input"])["Items"]
            error = record.get("Error") or f"States.{record.get('Status', 'Failed').title()}"
            found[items[0]["index"]] = (items[-1]["index"], error, str(record.get("Cause") or ""))
    return found


def accounted_ranges(run_id: str) -> list[tuple[int, int]]:
    """(first, last) of every batch the Account function counted (its audit item's accountedAt)."""
    pages = dynamodb.get_paginator("query").paginate(
        TableName=os.environ["AUDIT_TABLE"],
        KeyConditionExpression="runId = :run AND entryIndex >= :first",
        ExpressionAttributeValues={":run": {"S": run_id}, ":first": {"N": "0"}},
        ProjectionExpression="entryIndex, lastIndex, accountedAt",
        ConsistentRead=True,
    )
    return sorted(
        (int(item["entryIndex"]["N"]), int(item["lastIndex"]["N"]))
        for page in pages
        for item in page["Items"]
        if "accountedAt" in item
    )


def account_unaccounted(
    bucket: str, run: dict[str, Any], accounted: list[tuple[int, int]], map_error: str
) -> tuple[int, int]:
    """Results for the entries no batch accounted for: FAILED with their batch's error when the
    batch ran and ended without its account (stopped, timed out), under that batch's own key (so
    that they replace whatever its job may have written); NOT_RUN when it never ran, one object
    per stretch of such entries. The same inputs give the same objects: a repeated call rewrites
    them and counts the same. Returns (failed, not run)."""
    run_id, total = run["runId"], run["total"]
    missing, start = [], 0
    for first, last in [*accounted, (total, total)]:
        if first > start:
            missing.append((start, first - 1))
        start = max(start, last + 1)
    if not missing:
        return 0, 0
    ended = failed_batches(bucket, run)
    firsts = sorted(ended)
    not_run_error = map_error or "States.Runtime"
    counts = {"FAILED": 0, "NOT_RUN": 0}
    group: dict[str, Any] = {"key": None, "first": 0, "last": -1, "lines": []}

    def close() -> None:
        if group["lines"]:
            span = group["key"] if group["key"] != "not run" else (group["first"], group["last"])
            s3.put_object(Bucket=bucket, Key=results_key(run_id, *span), Body="".join(group["lines"]).encode())
            if group["key"] != "not run":
                close_batch_item(run_id, span, ended[span[0]][1])
        group.update(key=None, lines=[])

    body = s3.get_object(Bucket=bucket, Key=entries_key(run_id))["Body"]
    ranges = iter(missing)
    current = next(ranges)
    for raw in body.iter_lines():
        item = json.loads(raw)
        index = item["index"]
        while current is not None and index > current[1]:
            current = next(ranges, None)
        if current is None:
            break
        if index < current[0]:
            continue
        position = bisect.bisect_right(firsts, index) - 1
        batch = (firsts[position], ended[firsts[position]]) if position >= 0 else None
        if batch and index <= batch[1][0]:
            key, status, error, cause = (batch[0], batch[1][0]), "FAILED", batch[1][1], batch[1][2]
            cause = cause or "its batch ended without an account"
        else:
            key, status, error, cause = (
                "not run",
                "NOT_RUN",
                not_run_error,
                "the run stopped before this entry's batch ran",
            )
        if key != group["key"] or (key == "not run" and index != group["last"] + 1):
            close()
            group.update(key=key, first=index)
        group["last"] = index
        group["lines"].append(result_line(item, status, error, cause))
        counts[status] += 1
    close()
    return counts["FAILED"], counts["NOT_RUN"]


def close_batch_item(run_id: str, span: tuple[int, int], error: str) -> None:
    """The audit item of a batch that ended without its account: FAILED, closed by this function
    (not `accountedAt`: the run's counters never counted it)."""
    dynamodb.update_item(
        TableName=os.environ["AUDIT_TABLE"],
        Key={"runId": {"S": run_id}, "entryIndex": {"N": str(span[0])}},
        UpdateExpression="SET #status = :failed, lastIndex = :last, succeeded = :zero, failed = :count, "
        "#error = :error, closedAt = :now",
        ExpressionAttributeNames={"#status": "status", "#error": "error"},
        ExpressionAttributeValues={
            ":failed": {"S": "FAILED"},
            ":last": {"N": str(span[1])},
            ":zero": {"N": "0"},
            ":count": {"N": str(span[1] - span[0] + 1)},
            ":error": {"S": error},
            ":now": {"S": datetime.now(UTC).isoformat(timespec="milliseconds")},
        },
    )


def explain(failure: dict[str, Any], report: dict[str, Any], run: dict[str, Any]) -> dict[str, str]:
    """The run's error and cause, from the Map's failure."""
    error = failure.get("Error") or "States.Runtime"
    if error == "States.ExceedToleratedFailureThreshold":
        return {
            "error": "EntriesFailed",
            "cause": (
                f"{report['failed']} of {report['total']} entries failed, more than tolerated "
                f"(toleratedFailurePercentage {run['toleratedFailurePercentage']}, toleratedFailureCount "
                f"{run['toleratedFailureCount']}; a failed batch counts all its entries); {report['notRun']} did not "
                f"run. Results: {report['results']}"
            ),
        }
    return {"error": error, "cause": str(failure.get("Cause") or "")[:4096]}


def record_end(report: dict[str, Any]) -> None:
    dynamodb.update_item(
        TableName=os.environ["AUDIT_TABLE"],
        Key={"runId": {"S": report["runId"]}, "entryIndex": {"N": "-1"}},
        UpdateExpression="SET #status = :status, failed = :failed, notRun = :notRun, endedAt = :now, "
        "results = :results",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={
            ":status": {"S": report["status"]},
            ":failed": {"N": str(report["failed"])},
            ":notRun": {"N": str(report["notRun"])},
            ":now": {"S": datetime.now(UTC).isoformat(timespec="milliseconds")},
            ":results": {"S": report["results"]},
        },
    )
