"""Reads one run as an operator's credentials can, through boto3 clients (any endpoint: AWS or the
local emulator): the parent execution, its Map Run's children, the batches' audit items, their jobs,
summary.json, and every results file, streamed into aggregates (results.py)."""

import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

from run_report.jobs import describe_jobs
from run_report.model import Batch, FailureGroup, RunData
from run_report.results import NO_ERROR, ResultsAggregate

EXECUTION_ARN = re.compile(r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:execution:([^:/]+):([A-Za-z0-9_-]{1,80})$")
READERS = 16  # results files read at once


class ReportError(Exception):
    """What the operator must fix: shown as is, without a traceback."""


@dataclass
class Clients:
    """The service clients a report reads with; local_emulator's OrchestratorRun has the same names."""

    sfn: Any
    s3: Any
    dynamodb: Any
    batch: Any

    @classmethod
    def create(cls, endpoint_url: str | None = None, region: str | None = None) -> "Clients":
        make = lambda service: boto3.client(service, endpoint_url=endpoint_url, region_name=region)  # noqa: E731
        return cls(make("stepfunctions"), make("s3"), make("dynamodb"), make("batch"))


@dataclass
class Locations:
    """Where the stack keeps runs: its RunsBucketName and AuditTableName outputs."""

    bucket: str
    table: str

    @classmethod
    def from_outputs(cls, outputs: dict[str, str]) -> "Locations":
        return cls(outputs["RunsBucketName"], outputs["AuditTableName"])


def parse_execution_arn(arn: str) -> tuple[str, str, str]:
    """(region, state machine name, run id) of a parent execution's ARN, or a ReportError."""
    match = EXECUTION_ARN.match(arn)
    if not match:
        raise ReportError(
            f"not a run's execution ARN: {arn!r} (expected arn:aws:states:<region>:<account>:execution:"
            "<stack>-orchestrator:<run>; a batch's child execution, with a '/' in it, is not a run)"
        )
    return arn.split(":")[3], match.group(1), match.group(2)


def collect(clients: Any, execution_arn: str, where: Locations, now: datetime | None = None) -> RunData:
    """The run of EXECUTION_ARN, as far as it has gone (a run still going is marked so)."""
    _, _, run_id = parse_execution_arn(execution_arn)
    parent = describe_parent(clients.sfn, execution_arn)
    data = RunData(
        run_id=run_id,
        execution_arn=execution_arn,
        status=parent["status"],
        started_at=parent.get("startDate"),
        stopped_at=parent.get("stopDate"),
        generated_at=now or datetime.now(UTC),
        error=parent.get("error", ""),
        cause=parent.get("cause", ""),
        results_uri=f"s3://{where.bucket}/runs/{run_id}/results/",
        summary_uri=f"s3://{where.bucket}/runs/{run_id}/summary.json",
    )
    try:
        data.summary = read_summary(clients.s3, where.bucket, run_id)
    except ReportError as problem:  # the rest of the run can still be shown
        data.notes.append(str(problem))
    if not data.summary and not data.in_progress:
        data.notes.append("summary.json is missing: the run ended before it began, or has just ended")
    run_item, batches = audit_items(clients.dynamodb, where.table, run_id)
    children, data.map_run_counts = map_run_children(clients.sfn, execution_arn)
    data.batches = join_batches(batches, children)
    attach_jobs(clients.batch, data)
    aggregate = read_results(clients.s3, where.bucket, run_id)
    apply_results(data, aggregate)
    fill_counts(data, run_item, aggregate)
    if not data.failures:  # the results are gone (or unreadable), the summary's groups stay
        data.failures = summary_failures(data.summary)
    return data


def apply_results(data: RunData, aggregate: ResultsAggregate) -> None:
    """What the report shows of the results' aggregates."""
    if aggregate.bad_lines:
        data.notes.append(f"{aggregate.bad_lines} result lines were not JSON objects and were skipped")
    data.entries_read = aggregate.lines
    data.throughput, data.slowest, data.failures = aggregate.throughput(), aggregate.slowest(), aggregate.failures()
    data.entry_seconds_max = aggregate.seconds_max
    data.entry_seconds_mean = aggregate.seconds_total / aggregate.timed if aggregate.timed else None


def describe_parent(sfn: Any, execution_arn: str) -> dict[str, Any]:
    try:
        return sfn.describe_execution(executionArn=execution_arn)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("ExecutionDoesNotExist", "InvalidArn"):
            raise ReportError(
                f"no such execution: {execution_arn} ({exc.response['Error']['Code']}; check the ARN, "
                "and that the region and endpoint are the stack's)"
            ) from None
        raise


def read_summary(s3: Any, bucket: str, run_id: str) -> dict[str, Any]:
    try:
        body = s3.get_object(Bucket=bucket, Key=f"runs/{run_id}/summary.json")["Body"].read()
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return {}
        raise
    try:
        summary = json.loads(body)
    except ValueError:
        raise ReportError(f"s3://{bucket}/runs/{run_id}/summary.json is not JSON") from None
    if not isinstance(summary, dict):
        raise ReportError(f"s3://{bucket}/runs/{run_id}/summary.json is not a JSON object")
    return summary


def audit_items(dynamodb: Any, table: str, run_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The run's summary item (entryIndex -1; {} if none) and its batches' items, in entry order."""
    pages = dynamodb.get_paginator("query").paginate(
        TableName=table,
        KeyConditionExpression="runId = :run",
        ExpressionAttributeValues={":run": {"S": run_id}},
    )
    run_item, batches = {}, []
    for item in (plain(item) for page in pages for item in page["Items"]):
        if item["entryIndex"] < 0:
            run_item = item
        else:
            batches.append(item)
    return run_item, batches


def plain(item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB item's strings and numbers as Python values (the audit table has no other types)."""
    values: dict[str, Any] = {}
    for name, typed in item.items():
        if "N" in typed:
            number = typed["N"]
            values[name] = int(number) if re.fullmatch(r"-?\d+", number) else float(number)
        elif "S" in typed:
            values[name] = typed["S"]
    return values


def map_run_children(sfn: Any, execution_arn: str) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The Map Run's child executions (one per batch) and its counts of them."""
    children: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    for page in sfn.get_paginator("list_map_runs").paginate(executionArn=execution_arn):
        for map_run in page["mapRuns"]:
            described = sfn.describe_map_run(mapRunArn=map_run["mapRunArn"])
            for name, value in described.get("executionCounts", {}).items():
                counts[name] = counts.get(name, 0) + value
            for listing in sfn.get_paginator("list_executions").paginate(mapRunArn=map_run["mapRunArn"]):
                children.extend(listing["executions"])
    return children, counts


def join_batches(items: list[dict[str, Any]], children: list[dict[str, Any]]) -> list[Batch]:
    """One Batch per audit item, joined to its child execution; children with no item last."""
    by_arn = {child["executionArn"]: child for child in children}
    batches = []
    for item in items:
        batch = Batch(
            first=item["entryIndex"],
            last=item.get("lastIndex", item["entryIndex"]),
            status=item.get("status", ""),
            job_id=item.get("jobId", ""),
            job_status=item.get("jobStatus", ""),
        )
        set_child(batch, by_arn.pop(item.get("childExecutionArn", ""), None))
        batches.append(batch)
    for child in children:
        if child["executionArn"] in by_arn:  # never submitted its job, or its item is gone
            set_child(batch := Batch(first=None, last=None), child)
            batches.append(batch)
    return batches


def set_child(batch: Batch, child: dict[str, Any] | None) -> None:
    if child is not None:
        batch.child_arn, batch.child_status = child["executionArn"], child.get("status", "")
        batch.child_started, batch.child_stopped = child.get("startDate"), child.get("stopDate")


def attach_jobs(batch_client: Any, data: RunData) -> None:
    ids = [b.job_id for b in data.batches if b.job_id]
    jobs = describe_jobs(batch_client, ids)
    for batch in data.batches:
        job = jobs.get(batch.job_id)
        if job is None:
            continue
        batch.job_status = job.get("status", batch.job_status)
        batch.job_created, batch.job_started, batch.job_stopped = (
            epoch_ms(job.get(name)) for name in ("createdAt", "startedAt", "stoppedAt")
        )
    missing = len(set(ids) - set(jobs))
    if missing:
        data.notes.append(f"jobs no longer described by Batch: {missing} (it forgets ended jobs after a while)")


def epoch_ms(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value / 1000, UTC) if isinstance(value, int | float) and value > 0 else None


def result_keys(s3: Any, bucket: str, run_id: str) -> Iterator[str]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"runs/{run_id}/results/"):
        yield from (o["Key"] for o in page.get("Contents", []) if o["Key"].endswith(".jsonl"))


def read_results(s3: Any, bucket: str, run_id: str) -> ResultsAggregate:
    """Every results file, READERS at a time, each streamed line by line into its own aggregate."""

    def read(key: str) -> ResultsAggregate:
        aggregate = ResultsAggregate()
        for line in s3.get_object(Bucket=bucket, Key=key)["Body"].iter_lines():
            aggregate.add_line(line)
        return aggregate

    total = ResultsAggregate()
    with ThreadPoolExecutor(READERS) as pool:
        for aggregate in pool.map(read, result_keys(s3, bucket, run_id)):
            total.merge(aggregate)
    return total


def summary_failures(summary: dict[str, Any]) -> list[FailureGroup]:
    groups = []
    for group in summary.get("failures") or []:
        example = group.get("example") or {}
        groups.append(
            FailureGroup(
                error=str(group.get("error") or NO_ERROR),
                status="FAILED",
                count=int(group.get("count") or 0),
                example_index=example.get("index"),
                example_name=str(example.get("name") or ""),
                example_cause=str(example.get("cause") or ""),
            )
        )
    return groups


def fill_counts(data: RunData, run_item: dict[str, Any], aggregate: ResultsAggregate) -> None:
    """The exact counts of summary.json once the run has ended; before, the results so far, or the
    audit item's progress counters."""
    summary = data.summary
    if summary:
        data.total = summary.get("total")
        data.counts = {
            "SUCCEEDED": summary.get("succeeded", 0),
            "FAILED": summary.get("failed", 0),
            "NOT_RUN": summary.get("notRun", 0),
        }
        data.error, data.cause = summary.get("error") or data.error, summary.get("cause") or data.cause
        data.results_uri = summary.get("results") or data.results_uri
        data.summary_uri = summary.get("summary") or data.summary_uri
        return
    data.total = run_item.get("total")
    if aggregate.lines:
        data.counts = dict(aggregate.by_status)
    elif run_item:
        data.counts = {"SUCCEEDED": run_item.get("succeeded", 0), "FAILED": run_item.get("failed", 0)}
