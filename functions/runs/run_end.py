"""Ends a run, whichever way it ended: every entry given exactly one result, the run's jobs stopped,
its summary kept (summary.json and the audit table's summary item).

The finish function ends a run that reached its last state; the terminator ends one that never will
(stopped by hand, timed out, failed in a state of its own), from the parent's status-change event.
Both read what the run left (the batches' audit items, the Map Run's record of failed batches) and
write the same objects from the same state, so that a retry, or the two at once, give every entry
one result. The batches' audit items are the record: a batch the Account function recorded holds
its counts; entries of no such batch get their result here: FAILED with their batch's error when
the batch started and ended without its account (results an Account wrote before it died, if any, are replaced),
NOT_RUN when it never started.
"""

import bisect
import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError
from run_cost import PARENT_TRANSITIONS, cost_of, fargate_of, map_requests, usage_of
from run_jobs import jobs_of, stop_unfinished
from run_layout import entries_key, map_prefix, result_line, results_key, results_prefix, summary_key
from run_stats import Durations, Failures
from shared import client
from usage import ATTRIBUTES, METER

logger = Logger(child=True)
s3 = client("s3")
dynamodb = client("dynamodb")
batch = client("batch")

NOT_RUN_CAUSE = "the run stopped before this entry's batch ran"


@dataclass(frozen=True)
class Batches:
    """What the batches' audit items say: the counts of those accounted, and every batch that
    started, by its first entry (first -> last)."""

    succeeded: int
    failed: int
    accounted: list[tuple[int, int]]
    started: dict[int, int]
    entry_durations: Durations
    batch_durations: Durations
    failures: Failures
    usage: Counter[str]


def summary_item(run_id: str) -> dict[str, Any] | None:
    return dynamodb.get_item(
        TableName=os.environ["AUDIT_TABLE"],
        Key={"runId": {"S": run_id}, "entryIndex": {"N": "-1"}},
        ConsistentRead=True,
    ).get("Item")


def ended_report(run_id: str, item: dict[str, Any]) -> dict[str, Any] | None:
    """The report of a run that has ended (summary.json rewritten from the audit item if missing)."""
    if "endedAt" not in item:
        return None
    bucket = os.environ["RUNS_BUCKET"]
    try:
        return json.loads(s3.get_object(Bucket=bucket, Key=summary_key(run_id))["Body"].read())
    except s3.exceptions.NoSuchKey:
        report = json.loads(item["report"]["S"])
        s3.put_object(Bucket=bucket, Key=summary_key(run_id), Body=json.dumps(report, indent=2).encode())
        return report


def end_run(run: dict[str, Any], failure: dict[str, Any] | None, status: str | None = None) -> dict[str, Any]:
    """End RUN ({runId, total}, and the tolerances when the Map failed past them) after FAILURE (the
    Map's or the execution's error and cause, None when the Map succeeded); STATUS is the run's when
    the terminator ends it (default: FAILED after a failure, else SUCCEEDED). Its report."""
    run_id, total, bucket = run["runId"], run["total"], os.environ["RUNS_BUCKET"]
    item = summary_item(run_id)
    if item is None:
        raise LookupError(f"run {run_id} has no audit summary item: it was never prepared")
    earlier = ended_report(run_id, item)
    if earlier is not None:  # a repeated call (a retry, a redrive, both enders): the first report stands
        return earlier
    batches = read_batches(run_id)
    # No job outlives its run: one still queued or running (its batch stopped, or past the
    # tolerance) would write results nobody accounts for.
    reported = frozenset(first for first, _ in batches.accounted)
    reason = f"run {run_id} ended: its jobs must not outlive it"
    jobs = jobs_of(batch, os.environ["JOB_QUEUE"], run_id)
    stopped = stop_unfinished(batch, jobs, reason, reported)
    failed_unaccounted = not_run = 0
    if batches.succeeded + batches.failed < total:
        error = (failure or {}).get("Error") or ""
        failed_unaccounted, not_run = account_unaccounted(bucket, run, batches, error, batches.failures)
    report = {
        "runId": run_id,
        "status": status or ("FAILED" if failure else "SUCCEEDED"),
        "total": total,
        "succeeded": batches.succeeded,
        "failed": batches.failed + failed_unaccounted,
        "notRun": not_run,
        "results": f"s3://{bucket}/{results_prefix(run_id)}",
        "summary": f"s3://{bucket}/{summary_key(run_id)}",
        "durations": {"entries": batches.entry_durations.summary(), "batches": batches.batch_durations.summary()},
        "failures": batches.failures.summary(),
    }
    if failure:
        report |= explain(failure, report, run)
    ender = "terminated" if status else "finished"
    usage = batches.usage + map_requests(report["succeeded"] > 0, report["failed"] > 0)
    report["cost"] = run_cost(item, usage, [job["jobId"] for job in jobs], ender)
    s3.put_object(Bucket=bucket, Key=summary_key(run_id), Body=json.dumps(report, indent=2).encode())
    if not record_end(report):  # the other ender was first: its report stands
        return ended_report(run_id, summary_item(run_id) or {}) or report
    logger.info("run ended", extra={**report, "jobs_stopped": len(stopped)})
    return report


def run_cost(item: dict[str, Any], batches: Counter[str], job_ids: list[str], ender: str) -> dict[str, Any]:
    """The run's cost: what its batches' functions and jobs used, its Prepare (the summary ITEM),
    this invocation with the two writes left to it (summary.json, the summary item), its
    transitions and its jobs' Fargate time. A cost that cannot be had does not stop the run's end."""
    usage = batches + usage_of([item]) + METER.so_far()
    usage += Counter({"transitions": PARENT_TRANSITIONS[ender], "s3PutList": 1, "dynamodbWrites": 1})
    try:
        return cost_of(usage, fargate_of(batch, job_ids, int(time.time() * 1000)))
    except ClientError as exc:
        logger.warning("the run's cost could not be had", extra={"reason": str(exc)})
        return {"error": f"the jobs' Fargate time could not be read: {exc}"}


def read_batches(run_id: str) -> Batches:
    pages = dynamodb.get_paginator("query").paginate(
        TableName=os.environ["AUDIT_TABLE"],
        KeyConditionExpression="runId = :run AND entryIndex >= :first",
        ExpressionAttributeValues={":run": {"S": run_id}, ":first": {"N": "0"}},
        ProjectionExpression="entryIndex, lastIndex, accountedAt, succeeded, failed, entryMs, entryMaxMs, batchMs, "
        "#errors, errorExamples, " + ", ".join(f"#{name}" for name in ATTRIBUTES),
        ExpressionAttributeNames={"#errors": "errors", **{f"#{name}": name for name in ATTRIBUTES}},
        ConsistentRead=True,
    )
    succeeded = failed = 0
    accounted, started = [], {}
    entry_durations, batch_durations, failures = Durations(), Durations(), Failures()
    usage: Counter[str] = Counter()
    for item in (item for page in pages for item in page["Items"]):
        usage += usage_of([item])
        if "lastIndex" not in item:  # a job's event may come before the batch's submission is recorded
            continue
        span = (int(item["entryIndex"]["N"]), int(item["lastIndex"]["N"]))
        started[span[0]] = span[1]
        if "accountedAt" in item:
            accounted.append(span)
            succeeded += int(item["succeeded"]["N"])
            failed += int(item["failed"]["N"])
            entry_durations.merge(Durations.from_item(item.get("entryMs"), item.get("entryMaxMs")))
            if int(item.get("batchMs", {}).get("N", 0)):
                batch_durations.add(int(item["batchMs"]["N"]))
            failures.merge(Failures.from_items(item.get("errors"), item.get("errorExamples")))
    return Batches(succeeded, failed, sorted(accounted), started, entry_durations, batch_durations, failures, usage)


def failed_batches(bucket: str, run_id: str) -> dict[int, tuple[int, str, str]]:
    """first index -> (last index, error, cause) of every batch the Map Run recorded as ended
    without success (its FAILED results: failed, timed out or stopped children, input included)."""
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{map_prefix(run_id)}/")
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


def missing_spans(accounted: list[tuple[int, int]], total: int) -> Iterator[tuple[int, int]]:
    start = 0
    for first, last in [*accounted, (total, total)]:
        if first > start:
            yield start, first - 1
        start = max(start, last + 1)


def account_unaccounted(
    bucket: str, run: dict[str, Any], batches: Batches, error: str, failures: Failures
) -> tuple[int, int]:
    """Results for the entries no batch accounted for: FAILED with their batch's error when the
    batch started (the Map Run's record of it, else its audit item) and ended without its account,
    under that batch's own key (so that they replace whatever an Account may have written); NOT_RUN
    when it never started, one object per stretch of such entries. The same inputs give the same
    objects: a repeated call rewrites them and counts the same. Returns (failed, not run)."""
    run_id = run["runId"]
    missing = list(missing_spans(batches.accounted, run["total"]))
    if not missing:
        return 0, 0
    accounted = frozenset(first for first, _ in batches.accounted)
    stopped_error = error or "States.Aborted"
    ended = {
        first: (last, stopped_error, "its batch ended without an account")
        for first, last in batches.started.items()
        if first not in accounted
    } | failed_batches(bucket, run_id)
    firsts = sorted(ended)
    not_run_error = error or "States.Runtime"
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
    spans = iter(missing)
    current = next(spans)
    for raw in body.iter_lines():
        item = json.loads(raw)
        index = item["index"]
        while current is not None and index > current[1]:
            current = next(spans, None)
        if current is None:
            break
        if index < current[0]:
            continue
        position = bisect.bisect_right(firsts, index) - 1
        started = (firsts[position], ended[firsts[position]]) if position >= 0 else None
        if started and index <= started[1][0]:
            key, status, error_name, cause = (started[0], started[1][0]), "FAILED", started[1][1], started[1][2]
            cause = cause or "its batch ended without an account"
        else:
            key, status, error_name, cause = "not run", "NOT_RUN", not_run_error, NOT_RUN_CAUSE
        if key != group["key"] or (key == "not run" and index != group["last"] + 1):
            close()
            group.update(key=key, first=index)
        group["last"] = index
        group["lines"].append(result_line(item, status, error_name, cause))
        counts[status] += 1
        if status == "FAILED":
            failures.add(error_name, index, item["name"], cause)
    close()
    return counts["FAILED"], counts["NOT_RUN"]


def close_batch_item(run_id: str, span: tuple[int, int], error: str) -> None:
    """The audit item of a batch that ended without its account: FAILED, closed here (not
    `accountedAt`: no Account recorded its counts)."""
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
    """The run's error and cause, from the Map's (or the execution's) failure."""
    error = failure.get("Error") or "States.Runtime"
    if error == "States.ExceedToleratedFailureThreshold":
        return {
            "error": "EntriesFailed",
            "cause": (
                f"{report['failed']} of {report['total']} entries failed, more than tolerated ({tolerance(run)}; "
                f"a failed batch counts all its entries); {report['notRun']} did not run. Results: {report['results']}"
            ),
        }
    return {"error": error, "cause": str(failure.get("Cause") or "")[:4096]}


def tolerance(run: dict[str, Any]) -> str:
    """The thresholds that bind: Prepare sets the one not asked for where it never binds (100 %, or
    every entry), and naming it would quote a limit nobody set."""
    percentage, count = run.get("toleratedFailurePercentage"), run.get("toleratedFailureCount")
    bound = []
    if percentage is not None and percentage < 100:
        bound.append(f"toleratedFailurePercentage {percentage:g}")
    if count is not None and count < run["total"]:
        bound.append(f"toleratedFailureCount {count}")
    return ", ".join(bound) or "no failure tolerated"


def record_end(report: dict[str, Any]) -> bool:
    """The run's summary item: its end, exact counts and report. False if another call ended it first."""
    try:
        dynamodb.update_item(
            TableName=os.environ["AUDIT_TABLE"],
            Key={"runId": {"S": report["runId"]}, "entryIndex": {"N": "-1"}},
            UpdateExpression="SET #status = :status, succeeded = :succeeded, failed = :failed, notRun = :notRun, "
            "endedAt = :now, results = :results, report = :report",
            ConditionExpression="attribute_not_exists(endedAt)",
            ExpressionAttributeNames={"#status": "status"},
            ExpressionAttributeValues={
                ":status": {"S": report["status"]},
                ":succeeded": {"N": str(report["succeeded"])},
                ":failed": {"N": str(report["failed"])},
                ":notRun": {"N": str(report["notRun"])},
                ":now": {"S": datetime.now(UTC).isoformat(timespec="milliseconds")},
                ":results": {"S": report["results"]},
                ":report": {"S": json.dumps(report)},
            },
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        return False
    return True
