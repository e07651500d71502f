"""Large requests through the emulator: entries named in S3 (JSON Lines, a JSON array, CSV), run in
batches by the Distributed Map, every entry's result in S3 exactly once; and a run's failures run
again (`rerunOf`) once their cause is fixed."""

import csv
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.emulator.stacks import Deployed, deployed, sleep_command

BUCKET = "user-requests"


@pytest.fixture(scope="module")
def large(emulator) -> Deployed:
    parameters = {
        "EntryCommand": sleep_command(0),
        "NestedWaitSeconds": "0",
        "ArrayJobSize": "0",
        "RequestBucket": BUCKET,
    }
    stack = deployed(emulator, "large", parameters)
    stack.client("s3").create_bucket(Bucket=BUCKET)
    return stack


def upload(deployed: Deployed, key: str, body: str) -> dict[str, str]:
    deployed.client("s3").put_object(Bucket=BUCKET, Key=key, Body=body.encode())
    return {"bucket": BUCKET, "key": key}


def test_a_json_lines_request_of_thousands_runs_in_batches_and_accounts_every_entry_once(large: Deployed):
    entries = 3000
    lines = "".join(json.dumps({"name": f"sample-{i:05d}", "size": i % 7}) + "\n" for i in range(entries))
    source = upload(large, "requests/3000.jsonl", lines)

    result = large.run({"input": {"source": source, "batchSize": 250}}, timeout=900)

    assert result.status == "SUCCEEDED", (result.error, result.cause)
    assert [(e.index, e.name, e.status) for e in result.entries] == [
        (i, f"sample-{i:05d}", "SUCCEEDED") for i in range(entries)
    ]
    assert (result.report["total"], result.report["succeeded"], result.report["failed"], result.report["notRun"]) == (
        entries,
        entries,
        0,
        0,
    )
    batches = large.batches(result.execution_arn)
    assert len(batches) == 12 and {b["status"] for b in batches} == {"SUCCEEDED"}
    assert len({e.job_id for e in result.entries}) == 12, "one container per batch, not per entry"
    # The parent's history and output do not grow with the entries.
    assert len(large.history(result.execution_arn)) < 40
    assert len(json.dumps(result.report)) < 2048, "counts, durations, failures by cause, cost: a fixed size"
    [map_run] = large.client("stepfunctions").list_map_runs(executionArn=result.execution_arn)["mapRuns"]
    counts = large.client("stepfunctions").describe_map_run(mapRunArn=map_run["mapRunArn"])["itemCounts"]
    assert (counts["total"], counts["succeeded"], counts["failed"]) == (entries, entries, 0)


def test_a_json_array_source_runs(large: Deployed):
    source = upload(large, "requests/array.json", json.dumps([{"name": "a", "n": 1}, {"name": "b", "n": [2]}]))

    result = large.run({"input": {"source": source}})

    assert result.status == "SUCCEEDED"
    assert [(e.name, e.status) for e in result.entries] == [("a", "SUCCEEDED"), ("b", "SUCCEEDED")]
    assert entries_file(large, result.run_id) == [{"name": "a", "n": 1}, {"name": "b", "n": [2]}]


def test_a_csv_source_with_a_header_row_runs_with_every_column(large: Deployed):
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerows([["name", "tile", "note"], ["t1", "12", "plain"], ["t2", "13", 'quoted, "comma"']])
    source = upload(large, "requests/tiles.csv", rows.getvalue())

    result = large.run({"input": {"source": source}})

    assert result.status == "SUCCEEDED"
    assert [(e.name, e.status) for e in result.entries] == [("t1", "SUCCEEDED"), ("t2", "SUCCEEDED")]
    assert entries_file(large, result.run_id) == [
        {"name": "t1", "tile": "12", "note": "plain"},
        {"name": "t2", "tile": "13", "note": 'quoted, "comma"'},
    ]


def entries_file(deployed: Deployed, run_id: str) -> list[Any]:
    body = deployed.client("s3").get_object(
        Bucket=deployed.stack.outputs["RunsBucketName"], Key=f"runs/{run_id}/entries.jsonl"
    )
    return [json.loads(line)["entry"] for line in body["Body"].iter_lines()]


@contextmanager
def submit_broken(deployed: Deployed) -> Iterator[None]:
    """The submit function misconfigured (no job queue): every batch fails until it is fixed."""
    lambda_client = deployed.client("lambda")
    function = deployed.stack.outputs["BatchSubmitFunctionName"]
    configuration = lambda_client.get_function_configuration(FunctionName=function)
    broken = {k: v for k, v in configuration["Environment"]["Variables"].items() if k != "JOB_QUEUE"}
    lambda_client.update_function_configuration(FunctionName=function, Environment={"Variables": broken})
    try:
        yield
    finally:
        lambda_client.update_function_configuration(FunctionName=function, Environment=configuration["Environment"])


def test_the_failures_of_a_run_run_again_once_their_cause_is_fixed(large: Deployed):
    entries = [{"name": f"r{i}", **({"expectedJobStatus": "FAILED"} if i == 5 else {})} for i in range(8)]
    first = large.run({"input": {"entries": entries[:4], "batchSize": 2}})
    assert first.status == "SUCCEEDED"
    with submit_broken(large):
        broken = large.run(
            {"input": {"entries": entries, "batchSize": 2, "toleratedFailurePercentage": 100}}, timeout=120
        )
    assert broken.status == "SUCCEEDED", "every failure tolerated"
    assert [(e.status, e.error) for e in broken.entries] == [("FAILED", "SubmitFailed")] * 8

    # One entry per batch, so that the one entry that still fails is the one failure tolerated.
    rerun = large.run({"input": {"rerunOf": broken.run_id, "batchSize": 1, "toleratedFailureCount": 1}})

    assert rerun.status == "SUCCEEDED"
    assert [(e.index, e.name, e.status) for e in rerun.entries] == [
        (i, f"r{i}", "FAILED" if i == 5 else "SUCCEEDED") for i in range(8)
    ]
    # Only what failed runs again: a rerun of the rerun holds the one entry that still fails.
    again = large.run({"input": {"rerunOf": rerun.run_id, "toleratedFailureCount": 1}})
    assert again.status == "SUCCEEDED"
    assert [(e.index, e.name, e.status, e.error) for e in again.entries] == [(0, "r5", "FAILED", "Entry.Failed")]
    nothing = large.run({"input": {"rerunOf": first.run_id}})
    assert (nothing.status, nothing.error) == ("FAILED", "InvalidRequest")
    assert f"every entry of run '{first.run_id}' succeeded: nothing to run again" in nothing.cause
