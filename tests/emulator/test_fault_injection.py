"""Faults injected into the running application; each test asserts the outcome on the run's result
(its report and every entry's result in S3), the audit table (the run's summary and its batches)
and the job records, and how long detection took. The table of scenario -> outcome -> time to
detection is printed at the end of the run (see conftest.py)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from local_emulator.runner import OrchestratorRun, RunResult
from local_emulator.server import Emulator
from tests.emulator.stacks import CALLBACK_ONLY, SLOW_HEARTBEAT_SECONDS, Deployed, deployed
from tests.support.faults import record_fault

ENTRY = {"input": {"entries": [{"name": "one"}]}}
SMALL_MAX_ENTRIES = 5
REQUESTS_BUCKET = "fault-injection-requests"


@pytest.fixture(scope="module")
def callback_only(emulator: Emulator) -> Deployed:
    """conftest's lean stack, whose requests may also name objects of REQUESTS_BUCKET (RequestBucket)."""
    return deployed(emulator, "callback-only", {**CALLBACK_ONLY, "RequestBucket": REQUESTS_BUCKET})


@pytest.fixture(scope="module")
def small_max_entries(emulator: Emulator) -> Deployed:
    """A stack that takes at most SMALL_MAX_ENTRIES entries per run (the default is a million)."""
    return deployed(emulator, "small-max-entries", {**CALLBACK_ONLY, "MaxEntries": str(SMALL_MAX_ENTRIES)})


def start_with_running_job(
    deployed: Deployed, name: str, timeout: float = 240
) -> tuple[OrchestratorRun, str, str, Any]:
    """conftest's Deployed.start_with_running_job, with a bound for a loaded machine: start one
    entry; return once its batch's job's process runs (and has sent its first heartbeat)."""
    runner = OrchestratorRun(deployed.emulator.endpoint_url, deployed.stack)
    execution = runner.start({"input": {"entries": [{"name": name}]}})
    deadline = time.monotonic() + timeout
    while (job_id := deployed._running_job_of(execution)) is None or (
        process := deployed.emulator.batch.running.get(job_id)
    ) is None:
        assert time.monotonic() < deadline, f"the job never started in {timeout} s"
        time.sleep(0.2)
    time.sleep(1)  # let the script send its first heartbeat
    return runner, execution, job_id, process


def jobs_of(deployed: Deployed, status: str | None = None) -> list[dict[str, Any]]:
    batch = deployed.client("batch")
    queue = deployed.stack.outputs["JobQueueArn"]
    statuses = (
        [status] if status else ["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED"]
    )
    return [j for s in statuses for j in batch.list_jobs(jobQueue=queue, jobStatus=s)["jobSummaryList"]]


def run_entry(deployed: Deployed, payload: dict[str, Any] = ENTRY, timeout: float = 300) -> tuple[Any, float]:
    started = time.monotonic()
    result = deployed.run(payload, timeout=timeout)
    seconds = time.monotonic() - started
    assert_audit_agrees(deployed, result)
    return result, seconds


def results_spans(deployed: Deployed, run_id: str) -> dict[int, int]:
    """first -> last index of every results object of the run (one per batch, or per span NOT_RUN)."""
    s3 = deployed.client("s3")
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=deployed.stack.outputs["RunsBucketName"], Prefix=f"runs/{run_id}/results/"
    )
    spans = {}
    for key in (o["Key"] for page in pages for o in page.get("Contents", [])):
        first, last = key.rsplit("/", 1)[1].removesuffix(".jsonl").split("-")
        spans[int(first)] = int(last)
    return spans


def assert_audit_agrees(deployed: Deployed, result: RunResult) -> None:
    """The audit table tells what the run's results tell: the run's summary item counts its entries'
    results, every entry has exactly one result, in order, and every batch item agrees with the
    entries of its batch. Only accounted batches hold entries that ran (SUCCEEDED or FAILED)."""
    items = deployed.audit(result.execution_arn)
    if result.error == "InvalidRequest":
        assert items == [], "a rejected request records nothing"
        assert result.entries == []
        return
    [summary, *batches] = items
    assert summary["entryIndex"] == -1
    entries = result.entries
    assert [e.index for e in entries] == list(range(len(entries))), "every entry exactly once, in order"
    count = {status: sum(1 for e in entries if e.status == status) for status in ("SUCCEEDED", "FAILED", "NOT_RUN")}
    assert sum(count.values()) == len(entries), [e.status for e in entries]
    assert (
        summary["status"],
        summary["total"],
        summary["succeeded"],
        summary["failed"],
        summary.get("notRun"),
    ) == (result.status, len(entries), count["SUCCEEDED"], count["FAILED"], count["NOT_RUN"])
    assert (result.report["total"], result.report["succeeded"], result.report["failed"], result.report["notRun"]) == (
        len(entries),
        count["SUCCEEDED"],
        count["FAILED"],
        count["NOT_RUN"],
    )
    spans = results_spans(deployed, result.run_id)
    ran: set[int] = set()
    for item in batches:
        first = int(item["entryIndex"])
        last = int(item.get("lastIndex", spans.get(first, -1)))
        assert first in spans and spans[first] >= last >= first, f"batch {first}: no results object of its own"
        own = entries[first : last + 1]
        if "entries" in item:
            assert item["entries"] == len(own)
        if "closedAt" in item:  # its child ended without its account: Finish failed its entries
            assert (item["status"], item["succeeded"], item["failed"]) == ("FAILED", 0, len(own)), item
            assert {(e.status, e.error) for e in own} == {("FAILED", item["error"])}, (item, own)
            ran.update(e.index for e in own)
            continue
        if "accountedAt" not in item:  # never accounted nor closed: its entries did not run
            assert [e.status for e in own] == ["NOT_RUN"] * len(own), (item, own)
            continue
        succeeded = sum(1 for e in own if e.status == "SUCCEEDED")
        failed = sum(1 for e in own if e.status == "FAILED")
        assert (item["status"], item["succeeded"], item["failed"]) == (
            "FAILED" if failed else "SUCCEEDED",
            succeeded,
            failed,
        )
        assert succeeded + failed == len(own), (item, own)
        assert {e.job_id for e in own} == {item.get("jobId", "")}, (item, own)
        ran.update(e.index for e in own)
    assert {e.index for e in entries if e.status != "NOT_RUN"} == ran, "an entry ran outside an accounted batch"


def test_script_exits_non_zero(callback_only: Deployed, monkeypatch: pytest.MonkeyPatch):
    """The job's script fails after its entries' work (it cannot write its report): it exits
    non-zero and reports the failure itself; the batch's entries are all FAILED with it."""
    from moto.s3.exceptions import S3AccessDeniedError
    from moto.s3.models import S3Backend

    real = S3Backend.put_object
    refused: list[str] = []

    def refuse_the_jobs_report(self: S3Backend, bucket_name: str, key_name: str, *args: Any, **kwargs: Any) -> Any:
        if "/reports/" in key_name and not refused:
            refused.append(key_name)
            raise S3AccessDeniedError()
        return real(self, bucket_name, key_name, *args, **kwargs)

    monkeypatch.setattr(S3Backend, "put_object", refuse_the_jobs_report)
    result, seconds = run_entry(callback_only, {"input": {"entries": [{"name": "bad"}]}})
    [entry] = result.entries
    assert refused == [f"runs/{result.run_id}/reports/000000000-000000000.bin"]
    assert (result.status, result.error) == ("FAILED", "EntriesFailed")
    assert (entry.status, entry.error) == ("FAILED", "Job.Failed")
    assert entry.cause.startswith(f"batch job {entry.job_id} (attempt 1) exited with status ")
    job = callback_only.finished_job(entry.job_id, timeout=120)
    assert job["status"] == "FAILED" and job["container"]["exitCode"] not in (0, None)
    record_fault("script exits non-zero", f"entry FAILED {entry.error}", seconds)


def test_submit_event_delivered_twice_submits_one_job(callback_only: Deployed):
    function = callback_only.stack.outputs["BatchSubmitFunctionName"]
    jobs_before = {j["jobId"] for j in jobs_of(callback_only)}
    callback_only.emulator.lambdas.deliveries_per_event[function] = 2
    try:
        result, seconds = run_entry(callback_only, {"input": {"entries": [{"name": "twice"}]}})
    finally:
        callback_only.emulator.lambdas.deliveries_per_event.pop(function)
    new_jobs = [j for j in jobs_of(callback_only) if j["jobId"] not in jobs_before]
    deliveries = [i for i in callback_only.emulator.lambdas.journal.invocations if i.function_name == function]
    assert result.entries[0].status == "SUCCEEDED"
    assert len(new_jobs) == 1, "idempotent submission: one job for two deliveries"
    assert new_jobs[0]["jobId"] == result.entries[0].job_id
    assert len(deliveries) >= 2
    record_fault("submit event delivered twice", "1 job, entry SUCCEEDED", seconds)


def test_submit_job_throttled_twice_then_accepted(callback_only: Deployed, monkeypatch: pytest.MonkeyPatch):
    from moto.batch.models import BatchBackend
    from moto.core.exceptions import JsonRESTError

    calls: list[int] = []
    real = BatchBackend.submit_job

    def throttled(self: BatchBackend, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) <= 2:
            error = JsonRESTError("TooManyRequestsException", "Too Many Requests")
            error.code = 429
            raise error
        return real(self, *args, **kwargs)

    monkeypatch.setattr(BatchBackend, "submit_job", throttled)
    jobs_before = {j["jobId"] for j in jobs_of(callback_only)}
    result, seconds = run_entry(callback_only, {"input": {"entries": [{"name": "throttled"}]}})

    assert result.entries[0].status == "SUCCEEDED"
    assert len(calls) == 3
    assert len([j for j in jobs_of(callback_only) if j["jobId"] not in jobs_before]) == 1
    record_fault("SubmitJob throttled twice", "retried with backoff, 1 job, entry SUCCEEDED", seconds)


def aws_cli(deployed: Deployed, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": deployed.emulator.endpoint_url,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    return subprocess.run(
        [str(Path(sys.executable).parent / "aws"), *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_script_calls_back_twice(callback_only: Deployed):
    result, seconds = run_entry(callback_only, {"input": {"entries": [{"name": "echo"}]}})
    [entry] = result.entries
    token = callback_only.token_of_job(entry.job_id)

    again = aws_cli(callback_only, "stepfunctions", "send-task-success", "--task-token", token, "--task-output", "{}")

    assert again.returncode != 0
    assert any(code in again.stderr for code in ("TaskDoesNotExist", "TaskTimedOut", "InvalidToken"))
    [batch] = callback_only.batches(result.execution_arn)
    assert batch["status"] == "SUCCEEDED"
    assert json.loads(batch["output"])["outcome"] == {
        "first": 0,
        "last": 0,
        "succeeded": 1,
        "failed": 0,
        "counted": True,
    }
    assert (entry.status, entry.name, entry.attempt) == ("SUCCEEDED", "echo", 1)
    record_fault("script calls back twice", "second callback refused, entry SUCCEEDED", seconds)


def test_callback_with_an_invalid_token(callback_only: Deployed):
    started = time.monotonic()
    refused = aws_cli(
        callback_only, "stepfunctions", "send-task-success", "--task-token", "forged", "--task-output", "{}"
    )
    assert refused.returncode != 0 and "InvalidToken" in refused.stderr
    record_fault("callback with an invalid token", "InvalidToken, nothing changes", time.monotonic() - started)


def test_job_process_killed_before_calling_back(slow: Deployed):
    runner, execution, job_id, process = start_with_running_job(slow, "victim")
    # The audit table shows the run while it goes: its summary, and its batch RUNNING.
    items = wait_for_audit(slow, execution, lambda items: len(items) == 2 and items[-1].get("status") == "RUNNING")
    assert (items[0]["status"], items[0]["total"], items[-1]["attempts"], items[-1]["jobId"]) == (
        "RUNNING",
        1,
        1,
        job_id,
    )
    os.killpg(process.pid, signal.SIGKILL)
    killed = time.monotonic()
    result = runner.result(runner.wait(execution, 300, progress=False), 0)
    detected = time.monotonic() - killed
    [entry] = result.entries
    assert (result.status, result.error) == ("FAILED", "EntriesFailed")
    assert (entry.status, entry.error, entry.job_id) == ("FAILED", "Batch.JobFailed", job_id)
    assert entry.cause.startswith(f"job {job_id} (run-{result.run_id}-b0) FAILED after 1 attempt(s)")
    assert_audit_agrees(slow, result)
    [summary, audited] = wait_for_audit(slow, execution, lambda items: items[-1].get("jobStatus") == "FAILED")
    assert (summary["status"], summary["failed"]) == ("FAILED", 1)
    assert (audited["status"], audited["failed"], audited["jobStatus"], audited["attempts"]) == (
        "FAILED",
        1,
        "FAILED",
        1,
    )
    record_fault("job killed before calling back", f"entry FAILED {entry.error}", detected)


def wait_for_audit(deployed: Deployed, execution: str, ready: Any, timeout: float = 60) -> list[dict[str, Any]]:
    """The run's audit items once `ready(items)` holds (the table is written as events arrive)."""
    deadline = time.monotonic() + timeout
    while not ((items := deployed.audit(execution)) and ready(items)):
        assert time.monotonic() < deadline, f"audit items never ready: {items}"
        time.sleep(0.2)
    return items


@pytest.mark.minutes
def test_job_never_leaves_runnable(slow: Deployed):
    batch = slow.client("batch")
    [queue] = batch.describe_job_queues(jobQueues=[slow.stack.outputs["JobQueueArn"]])["jobQueues"]
    environment = queue["computeEnvironmentOrder"][0]["computeEnvironment"]
    batch.update_compute_environment(computeEnvironment=environment, state="DISABLED")  # no capacity, ever
    try:
        runner = OrchestratorRun(slow.emulator.endpoint_url, slow.stack)
        started = time.monotonic()
        execution = runner.start({"input": {"entries": [{"name": "stuck"}, {"name": "stuck too"}]}})
        result = runner.result(runner.wait(execution, 300, progress=False), 0)
        detected = time.monotonic() - started
        job = slow.finished_job(result.entries[0].job_id, timeout=120)
    finally:
        batch.update_compute_environment(computeEnvironment=environment, state="ENABLED")

    # The script never ran, so it never sent a heartbeat: the task's heartbeat bound ends the wait,
    # and the Account function terminates the job that would otherwise start later.
    assert (result.status, result.error) == ("FAILED", "EntriesFailed")
    assert [(e.index, e.status, e.error, e.job_id, e.attempt) for e in result.entries] == [
        (0, "FAILED", "Job.HeartbeatTimeout", job["jobId"], 0),
        (1, "FAILED", "Job.HeartbeatTimeout", job["jobId"], 0),
    ]
    assert detected < SLOW_HEARTBEAT_SECONDS + 30
    assert job["jobName"] == f"run-{result.run_id}-b0"
    assert job["status"] == "FAILED" and job["attempts"] == []
    assert f"batch 0-1 of run {result.run_id} ended with Job.HeartbeatTimeout" in job["statusReason"]
    assert_audit_agrees(slow, result)
    [_, audited] = wait_for_audit(slow, execution, lambda items: items[-1].get("jobStatus") == "FAILED")
    assert (audited["status"], audited["failed"], audited["attempts"]) == ("FAILED", 2, 0)
    record_fault("job never leaves RUNNABLE", "batch's entries FAILED Job.HeartbeatTimeout, job terminated", detected)


@pytest.mark.parametrize(("stack", "parent"), [("callback_only", "FAILED"), ("tolerant", "SUCCEEDED")])
def test_one_entry_fails_among_many(request: pytest.FixtureRequest, stack: str, parent: str):
    deployed: Deployed = request.getfixturevalue(stack)
    entries = [{"name": f"entry{i}"} for i in range(6)]
    entries[3]["expectedJobStatus"] = "FAILED"
    jobs_before = {j["jobId"] for j in jobs_of(deployed)}

    # Batches of two: entries 2 and 3 share a job, and only entry 3 fails.
    result, seconds = run_entry(deployed, {"input": {"entries": entries, "batchSize": 2}})

    assert (result.status, result.error) == (parent, "EntriesFailed" if parent == "FAILED" else ""), result
    # Every entry exactly once, in input order.
    assert [(e.index, e.name) for e in result.entries] == [(i, e["name"]) for i, e in enumerate(entries)]
    statuses = [e.status for e in result.entries]
    assert statuses[2:4] == ["SUCCEEDED", "FAILED"], "an entry's failure is its own, not its batch's"
    assert (result.entries[3].error, result.entries[3].job_id) == ("Entry.Failed", result.entries[2].job_id)
    batches = deployed.batches(result.execution_arn)
    assert [json.loads(b["input"])["Items"][0]["index"] for b in batches] == [0, 2, 4]
    assert batches[1]["status"] == "FAILED" and batches[1]["error"] == "EntriesFailed"
    if parent == "SUCCEEDED":
        assert statuses == ["SUCCEEDED"] * 3 + ["FAILED"] + ["SUCCEEDED"] * 2
        assert [b["status"] for b in batches] == ["SUCCEEDED", "FAILED", "SUCCEEDED"]
    else:
        # Past the tolerance (0 %) the Map Run aborts the batches still running; one that ended
        # first keeps its results, and so does one aborted after its Account step had counted its
        # entries; one aborted before has its entries FAILED by Finish with the batch's error
        # (assert_audit_agrees checks the pairs against the batch items).
        for batch, pair in ((batches[0], result.entries[0:2]), (batches[2], result.entries[4:6])):
            assert (batch["status"], [(e.status, e.error) for e in pair]) in (
                ("SUCCEEDED", [("SUCCEEDED", "")] * 2),
                ("ABORTED", [("SUCCEEDED", "")] * 2),
                ("ABORTED", [("FAILED", "States.Aborted")] * 2),
            ), (batch["status"], pair)
        assert result.cause.startswith(f"{statuses.count('FAILED')} of 6 entries failed, more than tolerated")
    ran = [e for e in result.entries if e.job_id]  # the entries whose job reported
    new_jobs = {j["jobId"] for j in jobs_of(deployed)} - jobs_before
    assert {e.job_id for e in ran} <= new_jobs and len({e.job_id for e in ran}) == len(ran) // 2
    for first in range(0, 6, 2):  # one job per batch
        pair = result.entries[first : first + 2]
        assert pair[0].job_id == pair[1].job_id
    tolerated = "tolerated" if parent == "SUCCEEDED" else "not tolerated"
    outcome = f"parent {parent}, " + ", ".join(f"{statuses.count(s)} {s}" for s in ("SUCCEEDED", "FAILED", "NOT_RUN"))
    record_fault(f"1 of 6 entries fails (batches of 2), {tolerated}", outcome, seconds)


@pytest.fixture(scope="module")
def requests_bucket(emulator: Emulator) -> Any:
    """A bucket of the emulator holding request objects (the stack's RequestBucket)."""
    s3 = boto3.client("s3", endpoint_url=emulator.endpoint_url)
    s3.create_bucket(Bucket=REQUESTS_BUCKET)
    s3.put_object(Bucket=REQUESTS_BUCKET, Key="lines.jsonl", Body=b'{"name": "a"}\n{"name": "b"}\n')
    s3.put_object(Bucket=REQUESTS_BUCKET, Key="broken.jsonl", Body=b'{"name": "a"}\n{"name": "b"\n{"name": "c"}\n')
    return s3


RUNS_BUCKET = "<the stack's runs bucket>"  # replaced by its name as the test runs


def source(key: str, format_: str | None = None, bucket: str = REQUESTS_BUCKET) -> dict[str, Any]:
    return {"input": {"source": {"bucket": bucket, "key": key, **({"format": format_} if format_ else {})}}}


@pytest.mark.parametrize(
    ("case", "stack", "request_", "named"),
    [
        ("no entries list", "callback_only", {"input": {}}, "give exactly one of entries, source or rerunOf"),
        ("entries not a list", "callback_only", {"input": {"entries": {"name": "x"}}}, "Input should be a valid list"),
        ("empty entries", "callback_only", {"input": {"entries": []}}, "at least 1 item"),
        ("entry not an object", "callback_only", {"input": {"entries": [1]}}, "must be a JSON object, not int"),
        (
            "entry without name",
            "callback_only",
            {"input": {"entries": [{"id": 1}]}},
            "input.entries[0].name: Field required",
        ),
        (
            "duplicate names",
            "callback_only",
            {"input": {"entries": [{"name": "a"}, {"name": "a"}]}},
            "duplicate name 'a'",
        ),
        (
            "too many entries",
            "small_max_entries",
            {"input": {"entries": [{"name": str(i)} for i in range(SMALL_MAX_ENTRIES + 1)]}},
            f"{SMALL_MAX_ENTRIES + 1} entries, at most {SMALL_MAX_ENTRIES} in one run (MaxEntries): split the "
            "request into several runs",
        ),
        (
            "source object does not exist",
            "callback_only",
            source("requests/missing.jsonl", bucket=RUNS_BUCKET),
            "/requests/missing.jsonl: no such object",
        ),
        (
            # S3 tells a missing key from a forbidden one only to who may list the bucket: the Prepare
            # function may list the runs bucket, not the RequestBucket.
            "source object does not exist in the RequestBucket",
            "callback_only",
            source("missing.jsonl"),
            f"s3://{REQUESTS_BUCKET}/missing.jsonl: cannot be read (AccessDenied: Access Denied)",
        ),
        (
            "source in another format than said",
            "callback_only",
            source("lines.jsonl", "json"),
            f"s3://{REQUESTS_BUCKET}/lines.jsonl: a JSON array of entries is expected, not dict",
        ),
        (
            "malformed JSON Lines line",
            "callback_only",
            source("broken.jsonl"),
            f"1 problem(s): s3://{REQUESTS_BUCKET}/broken.jsonl line 2: not JSON (",
        ),
    ],
)
def test_malformed_request_is_rejected_before_any_work(
    request: pytest.FixtureRequest, requests_bucket: Any, case: str, stack: str, request_: Any, named: str
):
    deployed: Deployed = request.getfixturevalue(stack)
    request_ = json.loads(json.dumps(request_).replace(RUNS_BUCKET, deployed.stack.outputs["RunsBucketName"]))
    jobs_before = len(jobs_of(deployed))
    result, seconds = run_entry(deployed, request_, timeout=120)
    assert (result.status, result.error) == ("FAILED", "InvalidRequest") and named in result.cause, result.cause
    assert len(jobs_of(deployed)) == jobs_before
    assert deployed.batches(result.execution_arn) == [], "no batch started"
    s3 = deployed.client("s3")
    stored = s3.list_objects_v2(Bucket=deployed.stack.outputs["RunsBucketName"], Prefix=f"runs/{result.run_id}/")
    assert stored.get("KeyCount", 0) == 0, "a refused request leaves nothing in the runs bucket"
    record_fault(f"malformed request: {case}", "parent FAILED InvalidRequest, no work", seconds)


def test_submit_function_that_raises_fails_the_waiting_task_fast(callback_only: Deployed):
    lambda_client = callback_only.client("lambda")
    function = callback_only.stack.outputs["BatchSubmitFunctionName"]
    configuration = lambda_client.get_function_configuration(FunctionName=function)
    broken = {k: v for k, v in configuration["Environment"]["Variables"].items() if k != "JOB_QUEUE"}
    lambda_client.update_function_configuration(FunctionName=function, Environment={"Variables": broken})
    jobs_before = len(jobs_of(callback_only))
    try:
        result, seconds = run_entry(
            callback_only,
            {"input": {"entries": [{"name": "misconfigured"}, {"name": "misconfigured too"}]}},
            timeout=180,
        )
    finally:
        lambda_client.update_function_configuration(FunctionName=function, Environment=configuration["Environment"])

    assert [(e.status, e.error, e.cause, e.job_id) for e in result.entries] == [
        ("FAILED", "SubmitFailed", "KeyError: 'JOB_QUEUE'", ""),
    ] * 2
    assert len(jobs_of(callback_only)) == jobs_before, "no job was submitted"
    [batch] = callback_only.batches(result.execution_arn)
    assert (batch["stopDate"] - batch["startDate"]).total_seconds() < 30  # not the 600 s heartbeat
    record_fault("submit function raises", "batch's entries FAILED SubmitFailed, task failed by the function", seconds)


def test_an_input_over_256_kib_is_refused_by_start_execution(callback_only: Deployed):
    sfn = callback_only.client("stepfunctions")
    started = time.monotonic()
    entries = [{"name": f"e{i}", "data": "x" * 5000} for i in range(60)]
    with pytest.raises(sfn.exceptions.ClientError, match="ValidationException"):
        sfn.start_execution(
            stateMachineArn=callback_only.stack.outputs["OrchestratorStateMachineArn"],
            input=json.dumps({"input": {"entries": entries}}),
        )
    record_fault("malformed request: input over 256 KiB", "StartExecution refused, no work", time.monotonic() - started)


def test_child_stopped_by_hand_leaves_no_job_behind(slow: Deployed):
    runner, execution, job_id, process = start_with_running_job(slow, "stopped")
    sfn = slow.client("stepfunctions")
    [map_run] = sfn.list_map_runs(executionArn=execution)["mapRuns"]
    [child] = sfn.list_executions(mapRunArn=map_run["mapRunArn"])["executions"]
    assert child["status"] == "RUNNING", child
    run_id = execution.rsplit(":", 1)[-1]
    assert slow.client("batch").describe_jobs(jobs=[job_id])["jobs"][0]["jobName"] == f"run-{run_id}-b0"
    stopped = time.monotonic()
    sfn.stop_execution(executionArn=child["executionArn"], error="Operator.Stopped", cause="stopped by hand")

    result = runner.result(runner.wait(execution, 300, progress=False), 0)
    job = slow.finished_job(job_id, timeout=120)
    detected = time.monotonic() - stopped

    # The Map counts the aborted batch as failed (past the tolerance of 0 %), and its Account never
    # ran: the Finish function gives its entry FAILED with the batch's own error (from the Map Run's
    # FAILED results), terminates its job and closes its audit item.
    assert sfn.describe_execution(executionArn=child["executionArn"])["status"] == "ABORTED"
    assert (result.status, result.error) == ("FAILED", "EntriesFailed")
    [entry] = result.entries
    assert (entry.status, entry.error, entry.cause) == ("FAILED", "Operator.Stopped", "stopped by hand")
    assert (result.report["succeeded"], result.report["failed"], result.report["notRun"]) == (0, 1, 0)
    assert_audit_agrees(slow, result)
    assert job["status"] == "FAILED" and f"run {run_id} ended: its jobs must not outlive it" in job["statusReason"]
    assert process.poll() is not None, "no orphaned job process"
    [_, audited] = wait_for_audit(slow, execution, lambda items: items[-1].get("jobStatus") == "FAILED")
    assert (audited["jobId"], audited["status"], audited["error"], "accountedAt" in audited) == (
        job_id,
        "FAILED",
        "Operator.Stopped",
        False,
    )
    record_fault("child stopped by hand", "batch ABORTED, entry FAILED, run FAILED, its job terminated", detected)


def test_a_run_stopped_by_hand_ends_with_a_summary_and_its_entries_run_again(slow: Deployed):
    """StopExecution on the parent (as a new user would stop a run): no Finish runs, yet the run
    ends with every entry's result once and a summary, from the parent's status-change event, and
    its entries run again with rerunOf."""
    runner, execution, job_id, process = start_with_running_job(slow, "stopped-parent")
    sfn = slow.client("stepfunctions")
    stopped = time.monotonic()
    sfn.stop_execution(executionArn=execution)
    run_id = execution.rsplit(":", 1)[-1]
    s3, bucket = slow.client("s3"), slow.stack.outputs["RunsBucketName"]
    deadline = time.monotonic() + 120
    while not s3.list_objects_v2(Bucket=bucket, Prefix=f"runs/{run_id}/summary.json").get("KeyCount"):
        assert time.monotonic() < deadline, "the stopped run never got its summary"
        time.sleep(0.2)
    detected = time.monotonic() - stopped

    result = runner.result(sfn.describe_execution(executionArn=execution), 0)

    assert result.status == "ABORTED"
    assert {k: result.report[k] for k in ("status", "succeeded", "failed", "notRun", "error")} == {
        "status": "ABORTED",
        "succeeded": 0,
        "failed": 1,
        "notRun": 0,
        "error": "States.Aborted",
    }
    [entry] = result.entries
    assert (entry.status, entry.error) == ("FAILED", "States.Aborted")
    job = slow.finished_job(job_id, timeout=120)
    assert job["status"] == "FAILED" and process.poll() is not None, "no job outlives the run"
    summary = wait_for_audit(slow, execution, lambda items: "endedAt" in items[0])[0]
    assert (summary["status"], summary["succeeded"], summary["failed"]) == ("ABORTED", 0, 1)
    record_fault("run stopped by hand", "run ABORTED with its summary, entry FAILED, its job terminated", detected)

    # Its failures can be run again (the slow stack's jobs work for minutes: Prepare of the rerun is enough).
    prepared = slow.client("lambda").invoke(
        FunctionName=slow.stack.outputs["PrepareRunFunctionName"],
        Payload=json.dumps({"runId": f"{run_id}-again", "request": {"input": {"rerunOf": run_id}}}).encode(),
    )
    answer = json.loads(prepared["Payload"].read())
    assert (answer["valid"], answer["total"]) == (True, 1), answer
