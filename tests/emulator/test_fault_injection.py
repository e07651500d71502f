"""Faults injected into the running application; each test asserts the outcome on the parent's
result, the audit table and the job records, and how long detection took. The table of
scenario -> outcome -> time to detection is printed at the end of the run (see conftest.py)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from local_emulator.run import OrchestratorRun, RunResult
from tests.emulator.conftest import SLOW_HEARTBEAT_SECONDS, Deployed
from tests.support.faults import record_fault
from tests.support.template import sam_template

ENTRY = {"input": {"entries": [{"name": "one"}]}}
MAX_ENTRIES = int(sam_template()["Parameters"]["MaxEntries"]["Default"])


def jobs_of(deployed: Deployed, status: str | None = None) -> list[dict[str, Any]]:
    batch = deployed.client("batch")
    queue = deployed.stack.outputs["JobQueueArn"]
    statuses = (
        [status] if status else ["SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED"]
    )
    return [j for s in statuses for j in batch.list_jobs(jobQueue=queue, jobStatus=s)["jobSummaryList"]]


def run_entry(deployed: Deployed, payload: dict[str, Any] = ENTRY, timeout: float = 120) -> tuple[Any, float]:
    started = time.monotonic()
    result = deployed.run(payload, timeout=timeout)
    seconds = time.monotonic() - started
    assert_audit_agrees(deployed, result)
    return result, seconds


def assert_audit_agrees(deployed: Deployed, result: RunResult) -> None:
    """The audit table tells what the parent's result tells: the run, then every entry once, in order."""
    items = deployed.audit(result.execution_arn)
    if result.error == "InvalidRequest":
        assert items == [], "a rejected request records nothing"
        return
    [summary, *audited] = items
    succeeded = sum(1 for e in result.entries if e.status == "SUCCEEDED")
    assert (summary["status"], summary["total"], summary["succeeded"], summary["failed"]) == (
        result.status,
        len(result.entries),
        succeeded,
        len(result.entries) - succeeded,
    )
    assert [(a["entryIndex"], a["name"], a["status"], a.get("jobId", ""), a.get("error", "")) for a in audited] == [
        (e.index, e.name, e.status, e.job_id, e.error) for e in result.entries
    ]


def test_script_exits_non_zero(callback_only: Deployed):
    result, seconds = run_entry(callback_only, {"input": {"entries": [{"name": "bad", "expectedJobStatus": "FAILED"}]}})
    [entry] = result.entries
    assert (entry.status, entry.error) == ("FAILED", "Job.SimulatedFailure")
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
    child = callback_only.client("stepfunctions").describe_execution(executionArn=entry.child_execution_arn)
    assert child["status"] == "SUCCEEDED" and json.loads(child["output"])["job"]["entry"] == {"name": "echo"}
    record_fault("script calls back twice", "second callback refused, entry SUCCEEDED", seconds)


def test_callback_with_an_invalid_token(callback_only: Deployed):
    started = time.monotonic()
    refused = aws_cli(
        callback_only, "stepfunctions", "send-task-success", "--task-token", "forged", "--task-output", "{}"
    )
    assert refused.returncode != 0 and "InvalidToken" in refused.stderr
    record_fault("callback with an invalid token", "InvalidToken, nothing changes", time.monotonic() - started)


def test_job_process_killed_before_calling_back(slow: Deployed):
    runner, execution, job_id, process = slow.start_with_running_job("victim")
    # The audit table shows the run while it goes.
    item = wait_for_audit(slow, execution, lambda items: items[-1].get("status") == "RUNNING")
    assert (item[0]["status"], item[0]["total"], item[-1]["attempts"]) == ("RUNNING", 1, 1)
    os.killpg(process.pid, signal.SIGKILL)
    killed = time.monotonic()
    [entry] = runner.result(runner.wait(execution, 1, 120, progress=False), 0).entries
    detected = time.monotonic() - killed
    assert (entry.status, entry.error, entry.job_id, entry.attempts) == (
        "FAILED",
        "Batch.JobFailed",
        job_id,
        1,
    )
    [summary, audited] = slow.audit(execution)
    assert (summary["status"], summary["failed"]) == ("FAILED", 1)
    assert (audited["status"], audited["error"], audited["jobStatus"]) == ("FAILED", "Batch.JobFailed", "FAILED")
    record_fault("job killed before calling back", f"entry FAILED {entry.error}", detected)


def wait_for_audit(deployed: Deployed, execution: str, ready: Any, timeout: float = 60) -> list[dict[str, Any]]:
    """The run's audit items once `ready(items)` holds (the table is written as events arrive)."""
    deadline = time.monotonic() + timeout
    while not ((items := deployed.audit(execution)) and ready(items)):
        assert time.monotonic() < deadline, f"audit items never ready: {items}"
        time.sleep(0.2)
    return items


def test_job_never_leaves_runnable(slow: Deployed):
    batch = slow.client("batch")
    [queue] = batch.describe_job_queues(jobQueues=[slow.stack.outputs["JobQueueArn"]])["jobQueues"]
    environment = queue["computeEnvironmentOrder"][0]["computeEnvironment"]
    batch.update_compute_environment(computeEnvironment=environment, state="DISABLED")  # no capacity, ever
    try:
        runner = OrchestratorRun(slow.emulator.endpoint_url, slow.stack)
        started = time.monotonic()
        execution = runner.start({"input": {"entries": [{"name": "stuck"}]}})
        [entry] = runner.result(runner.wait(execution, 1, 120, progress=False), 0).entries
        detected = time.monotonic() - started
        job = slow.finished_job(entry.job_id)
    finally:
        batch.update_compute_environment(computeEnvironment=environment, state="ENABLED")

    # The script never ran, so it never sent a heartbeat: the task's heartbeat bound ends the wait.
    assert (entry.status, entry.error, entry.attempts) == ("FAILED", "Job.HeartbeatTimeout", 0)
    assert detected < SLOW_HEARTBEAT_SECONDS + 30
    assert job["status"] == "FAILED" and "child execution" in job["statusReason"] and job["attempts"] == []
    [_, audited] = wait_for_audit(slow, execution, lambda items: items[-1].get("jobStatus") == "FAILED")
    assert (audited["status"], audited["error"], audited["attempts"]) == ("FAILED", "Job.HeartbeatTimeout", 0)
    record_fault("job never leaves RUNNABLE", "entry FAILED Job.HeartbeatTimeout, job terminated", detected)


@pytest.mark.parametrize(("stack", "parent"), [("callback_only", "FAILED"), ("tolerant", "SUCCEEDED")])
def test_one_entry_fails_among_many(request: pytest.FixtureRequest, stack: str, parent: str):
    deployed: Deployed = request.getfixturevalue(stack)
    entries = [{"name": f"entry{i}"} for i in range(6)]
    entries[3]["expectedJobStatus"] = "FAILED"
    jobs_before = {j["jobId"] for j in jobs_of(deployed)}

    result, seconds = run_entry(deployed, {"input": {"entries": entries}})

    assert result.status == parent and result.error == ("EntriesFailed" if parent == "FAILED" else "")
    # Every entry exactly once, in input order, each with its own job.
    assert [(e.index, e.name) for e in result.entries] == [(i, e["name"]) for i, e in enumerate(entries)]
    assert [e.status for e in result.entries] == ["SUCCEEDED"] * 3 + ["FAILED"] + ["SUCCEEDED"] * 2
    assert result.entries[3].error == "Job.SimulatedFailure"
    new_jobs = {j["jobId"] for j in jobs_of(deployed)} - jobs_before
    assert new_jobs == {e.job_id for e in result.entries} and len(new_jobs) == 6
    tolerated = "tolerated" if parent == "SUCCEEDED" else "not tolerated"
    record_fault(f"1 of 6 entries fails, {tolerated}", f"parent {parent}, 5 SUCCEEDED + 1 FAILED", seconds)


@pytest.mark.parametrize(
    ("case", "request_", "named"),
    [
        ("no entries list", {"input": {}}, "input.entries: Field required"),
        ("entries not a list", {"input": {"entries": {"name": "x"}}}, "Input should be a valid list"),
        ("empty entries", {"input": {"entries": []}}, "at least 1 item"),
        ("entry not an object", {"input": {"entries": [1]}}, "must be a JSON object, not int"),
        ("entry without name", {"input": {"entries": [{"id": 1}]}}, "input.entries[0].name: Field required"),
        ("duplicate names", {"input": {"entries": [{"name": "a"}, {"name": "a"}]}}, "duplicate name 'a'"),
        (
            "too many entries",
            {"input": {"entries": [{"name": str(i)} for i in range(MAX_ENTRIES + 1)]}},
            f"{MAX_ENTRIES + 1} entries, at most {MAX_ENTRIES} in one run (MaxEntries)",
        ),
    ],
)
def test_malformed_request_is_rejected_before_any_work(callback_only: Deployed, case, request_, named):
    jobs_before = len(jobs_of(callback_only))
    result, seconds = run_entry(callback_only, request_, timeout=60)
    assert (result.status, result.error) == ("FAILED", "InvalidRequest") and named in result.cause
    assert len(jobs_of(callback_only)) == jobs_before
    record_fault(f"malformed request: {case}", "parent FAILED InvalidRequest, no work", seconds)


def test_submit_function_that_raises_fails_the_waiting_task_fast(callback_only: Deployed):
    lambda_client = callback_only.client("lambda")
    function = callback_only.stack.outputs["BatchSubmitFunctionName"]
    configuration = lambda_client.get_function_configuration(FunctionName=function)
    broken = {k: v for k, v in configuration["Environment"]["Variables"].items() if k != "JOB_QUEUE"}
    lambda_client.update_function_configuration(FunctionName=function, Environment={"Variables": broken})
    try:
        result, seconds = run_entry(callback_only, {"input": {"entries": [{"name": "misconfigured"}]}}, timeout=60)
    finally:
        lambda_client.update_function_configuration(FunctionName=function, Environment=configuration["Environment"])

    [entry] = result.entries
    assert entry.status == "FAILED"
    assert entry.error == "SubmitFailed"
    assert entry.cause == "KeyError: 'JOB_QUEUE'"
    assert entry.duration_seconds is not None and entry.duration_seconds < 30  # not the 600 s heartbeat
    record_fault("submit function raises", "entry FAILED SubmitFailed, task failed by the function", seconds)


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
    runner, execution, job_id, process = slow.start_with_running_job("stopped")
    sfn = slow.client("stepfunctions")
    # The job is named after its child: `<child name>-job`.
    child_name = slow.client("batch").describe_jobs(jobs=[job_id])["jobs"][0]["jobName"].removesuffix("-job")
    listed = sfn.list_executions(stateMachineArn=slow.stack.outputs["SyncNestedStateMachineArn"])["executions"]
    [child] = [e for e in listed if e["name"] == child_name] or [{"name": child_name, "status": f"not in {listed}"}]
    assert child["status"] == "RUNNING", child
    stopped = time.monotonic()
    sfn.stop_execution(executionArn=child["executionArn"], error="Operator.Stopped", cause="stopped by hand")

    result = runner.result(runner.wait(execution, 1, 120, progress=False), 0)
    [entry] = result.entries
    job = slow.finished_job(job_id)
    detected = time.monotonic() - stopped
    assert_audit_agrees(slow, result)

    assert entry.status == "FAILED"
    assert job["status"] == "FAILED" and f"child execution {child['name']}" in job["statusReason"]
    assert process.poll() is not None, "no orphaned job process"
    record_fault("child stopped by hand", "entry FAILED, its job terminated", detected)
