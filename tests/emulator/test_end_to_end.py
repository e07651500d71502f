"""The whole application through the emulator: the same template, state machines, functions and
batch script as on AWS. Assertions read execution histories, job records, results in S3 and the
audit table."""

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

from local_emulator.run_record import write_record
from local_emulator.runner import OrchestratorRun
from tests.emulator.stacks import SLOW_HEARTBEAT_SECONDS, Deployed, payload
from tests.support.paths import ROOT, TEST_INPUTS


def job(deployed: Deployed, job_id: str) -> dict[str, Any]:
    return deployed.client("batch").describe_jobs(jobs=[job_id])["jobs"][0]


def job_log(deployed: Deployed, described: dict[str, Any]) -> str:
    events = deployed.client("logs").get_log_events(
        logGroupName=deployed.stack.outputs["JobLogGroupName"], logStreamName=described["container"]["logStreamName"]
    )["events"]
    return "\n".join(e["message"] for e in events)


def scheduled(history: list[dict[str, Any]]) -> list[str]:
    """resourceType:resource of every task the execution scheduled, in order."""
    details = [e["taskScheduledEventDetails"] for e in history if e["type"] == "TaskScheduled"]
    return [f"{d['resourceType']}:{d['resource']}" for d in details]


def entered(history: list[dict[str, Any]]) -> list[str]:
    """The states the execution entered, in order: its state transitions."""
    return [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]


def test_sample_payload_every_entry_succeeds_through_every_pattern(full: Deployed):
    result = full.run(payload("orchestrator-step-function-payload.json"))

    assert result.status == "SUCCEEDED"
    assert [(e.index, e.name, e.status, e.attempt) for e in result.entries] == [
        (0, "invoke1", "SUCCEEDED", 1),
        (1, "invoke2", "SUCCEEDED", 1),
    ]
    assert (result.report["total"], result.report["succeeded"], result.report["failed"]) == (2, 2, 0)
    [batch] = full.batches(result.execution_arn)  # two entries: one batch, one job
    assert batch["status"] == "SUCCEEDED"
    history = full.history(batch["executionArn"])
    assert scheduled(history) == [
        "batch:submitJob.sync",  # the native array job
        "states:startExecution.sync:2",  # the nested machine, with its notify-function callback
        "lambda:invoke.waitForTaskToken",  # the submit function; the job calls back
        "lambda:invoke",  # the account of the batch
    ]
    assert entered(history) == ["Which path?", "Run array job", "Run nested callback-notify", "Run job", "Account"]
    [job_id] = {e.job_id for e in result.entries}
    described = job(full, job_id)
    assert described["status"] == "SUCCEEDED" and described["container"]["exitCode"] == 0
    run_id = result.run_id
    assert described["jobName"] == f"run-{run_id}-b0"
    assert described["parameters"]["resultsKey"] == f"runs/{run_id}/results/000000000-000000001.jsonl"
    log = job_log(full, described)
    assert "reported 2 entries: 2 succeeded, 0 failed" in log
    token = full.token_of_job(job_id)
    assert token not in log and token not in json.dumps(described), "the job holds a reference, not the token"


def test_nested_sync2_machine_returns_its_json_output(full: Deployed):
    result = full.run({"input": {"entries": [{"name": "nested"}]}})

    [batch] = full.batches(result.execution_arn)
    [succeeded] = [
        json.loads(e["taskSucceededEventDetails"]["output"])
        for e in full.history(batch["executionArn"])
        if e["type"] == "TaskSucceeded" and e["taskSucceededEventDetails"]["resource"] == "startExecution.sync:2"
    ]
    nested = full.client("stepfunctions").describe_execution(executionArn=succeeded["ExecutionArn"])
    assert nested["status"] == "SUCCEEDED"
    output = {
        "runId": result.run_id,
        "entries": 1,
        "waitSeconds": 1,
        "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID": batch["executionArn"],  # its input, passed through
        "notification": {"notified": True},
    }
    assert succeeded["Output"] == output, ".sync:2 gives the output as JSON"
    assert json.loads(nested["output"]) == output
    assert scheduled(full.history(nested["executionArn"])) == ["lambda:invoke.waitForTaskToken"]


def test_native_array_job_runs_every_child_with_its_index(full: Deployed):
    result = full.run({"input": {"entries": [{"name": "array"}]}})

    [batch] = full.batches(result.execution_arn)
    [submitted] = [
        json.loads(e["taskSucceededEventDetails"]["output"])
        for e in full.history(batch["executionArn"])
        if e["type"] == "TaskSucceeded" and e["taskSucceededEventDetails"]["resource"] == "submitJob.sync"
    ]
    parent = job(full, submitted["JobId"])
    assert parent["jobName"].startswith(f"run-{result.run_id}-array-")
    assert parent["status"] == "SUCCEEDED" and parent["arrayProperties"]["size"] == 2
    for index in range(2):
        described = job(full, f"{parent['jobId']}:{index}")
        assert described["status"] == "SUCCEEDED"
        assert f"array child {index}" in job_log(full, described)


def test_the_lean_path_runs_only_the_job_and_its_account(callback_only: Deployed):
    result = callback_only.run({"input": {"entries": [{"name": f"lean{i}"} for i in range(5)], "batchSize": 5}})

    assert result.status == "SUCCEEDED" and [e.status for e in result.entries] == ["SUCCEEDED"] * 5
    [batch] = callback_only.batches(result.execution_arn)
    history = callback_only.history(batch["executionArn"])
    assert scheduled(history) == ["lambda:invoke.waitForTaskToken", "lambda:invoke"]
    assert entered(history) == ["Which path?", "Run job", "Account"], "3 transitions for the whole batch"


def test_a_failing_entry_fails_alone_in_its_batch(callback_only: Deployed):
    result = callback_only.run(payload("orchestrator-with-failure-payload.json"))

    # No failure is tolerated by default: the run fails, and says why.
    assert (result.status, result.error) == ("FAILED", "EntriesFailed")
    assert result.cause.startswith("1 of 3 entries failed, more than tolerated")
    assert [(e.name, e.status, e.error) for e in result.entries] == [
        ("invoke1", "SUCCEEDED", ""),
        ("invoke2", "FAILED", "Job.SimulatedFailure"),
        ("invoke3", "SUCCEEDED", ""),
    ]
    assert "expectedJobStatus" in result.entries[1].cause
    assert (result.report["total"], result.report["succeeded"], result.report["failed"]) == (3, 2, 1)
    # The job did its work and reported: one entry's failure is not the job's.
    [job_id] = {e.job_id for e in result.entries}
    described = callback_only.finished_job(job_id)
    assert described["status"] == "SUCCEEDED" and described["container"]["exitCode"] == 0
    [batch] = callback_only.batches(result.execution_arn)
    [reported] = [
        json.loads(e["taskSucceededEventDetails"]["output"])
        for e in callback_only.history(batch["executionArn"])
        if e["type"] == "TaskSucceeded" and e["taskSucceededEventDetails"]["resource"] == "invoke.waitForTaskToken"
    ]
    assert reported == {"jobId": job_id, "attempt": 1, "succeeded": 2, "failed": 1}
    assert (batch["status"], batch["error"]) == ("FAILED", "EntriesFailed"), "the Map counts the batch's entries"


def test_failures_within_the_tolerated_percentage_let_the_run_succeed(tolerant: Deployed):
    # One entry per batch: a failed batch counts all its entries against the tolerance (50 %).
    result = tolerant.run({"input": {**payload("orchestrator-with-failure-payload.json")["input"], "batchSize": 1}})

    assert result.status == "SUCCEEDED"
    assert [e.status for e in result.entries] == ["SUCCEEDED", "FAILED", "SUCCEEDED"]
    assert (result.report["status"], result.report["failed"]) == ("SUCCEEDED", 1)


def test_a_killed_job_is_detected_by_its_batch_event_in_seconds(slow: Deployed):
    runner, execution, job_id, process = slow.start_with_running_job("killed")
    os.killpg(process.pid, signal.SIGKILL)  # the container dies: no callback
    killed_at = time.time()

    description = runner.wait(execution, timeout_seconds=120, progress=False)

    [entry] = runner.result(description, 0).entries
    assert (entry.status, entry.error, entry.job_id) == ("FAILED", "Batch.JobFailed", job_id)
    assert f"job {job_id}" in entry.cause and "exit code 137" in entry.cause
    # Detected when the batch's waiting task failed, not when the run had wound up. The error names
    # the event path; the bound, half the heartbeat timeout, leaves room for a loaded machine.
    [batch] = runner.executions_of(execution)[1:]
    [failed] = [e for e in slow.history(batch) if e.get("taskFailedEventDetails", {}).get("error") == "Batch.JobFailed"]
    detected_after = failed["timestamp"].timestamp() - killed_at
    assert detected_after < SLOW_HEARTBEAT_SECONDS / 2, "found by the job's state-change event, not the heartbeat"
    assert job(slow, job_id)["container"]["exitCode"] == 137


def test_a_stuck_job_is_detected_by_the_heartbeat_timeout_without_hanging(slow: Deployed):
    runner, execution, job_id, process = slow.start_with_running_job("stuck")
    os.killpg(process.pid, signal.SIGSTOP)  # alive but silent: no heartbeat, no exit, no event
    stuck_at = time.monotonic()
    try:
        description = runner.wait(execution, timeout_seconds=120, progress=False)
        detected_after = time.monotonic() - stuck_at
        stopped = slow.finished_job(job_id)
    finally:
        os.killpg(process.pid, signal.SIGKILL)

    [entry] = runner.result(description, 0).entries
    assert (entry.status, entry.error, entry.job_id) == ("FAILED", "Job.HeartbeatTimeout", job_id)
    assert detected_after < SLOW_HEARTBEAT_SECONDS + 5
    assert stopped["status"] == "FAILED", "the silent job is terminated: nothing would account for it"


def test_run_record_holds_results_histories_and_jobs_but_no_token(full: Deployed, tmp_path):
    runner = OrchestratorRun(full.emulator.endpoint_url, full.stack)
    execution = runner.start({"input": {"entries": [{"name": "recorded"}]}})
    result = runner.result(runner.wait(execution, 120, progress=False), 0)
    write_record(runner, result, tmp_path, full.emulator.lambdas.journal)

    tokens = full.task_tokens()
    assert len(tokens) >= 2 and all(len(token) >= 500 for token in tokens)  # notification, job
    files = list(tmp_path.rglob("*.*"))
    assert len([f for f in files if f.parent.name == "executions"]) == 3, "the run, its batch, the nested one"
    assert any(f.suffix == ".log" for f in files)
    assert [json.loads(line)["name"] for line in (tmp_path / "results.jsonl").read_text().splitlines()] == ["recorded"]
    text = "\n".join(f.read_text() for f in files)
    assert all(token not in text for token in tokens)
    assert all(token[-8:] in text for token in tokens)


def test_a_bad_request_is_rejected_before_any_batch_starts(callback_only: Deployed):
    bad = {"input": {"entries": [{"name": "a"}, {"name": "a"}, "text", {"id": 3}]}}

    result = callback_only.run(bad, timeout=60)

    assert (result.status, result.error) == ("FAILED", "InvalidRequest")
    assert result.cause == (
        "3 problem(s): input.entries[1].name: duplicate name 'a' (also input.entries[0]); "
        "input.entries[2]: must be a JSON object, not str; input.entries[3].name: Field required"
    )
    assert callback_only.client("stepfunctions").list_map_runs(executionArn=result.execution_arn)["mapRuns"] == []
    assert result.entries == [] and callback_only.audit(result.execution_arn) == []


def test_the_audit_table_holds_the_runs_summary_and_every_batch(callback_only: Deployed):
    entries = [{"name": f"audited{i}", **({"expectedJobStatus": "FAILED"} if i == 4 else {})} for i in range(5)]
    result = callback_only.run({"input": {"entries": entries, "batchSize": 2, "toleratedFailureCount": 2}})

    assert result.status == "SUCCEEDED"
    [summary, *batches] = callback_only.audit(result.execution_arn)
    assert summary["entryIndex"] == -1
    assert (summary["status"], summary["total"], summary["succeeded"], summary["failed"], summary["notRun"]) == (
        "SUCCEEDED",
        5,
        4,
        1,
        0,
    )
    assert summary["endedAt"] >= summary["startedAt"] and summary["results"] == result.report["results"]
    assert [(b["entryIndex"], b["lastIndex"], b["status"], b["succeeded"], b["failed"]) for b in batches] == [
        (0, 1, "SUCCEEDED", 2, 0),
        (2, 3, "SUCCEEDED", 2, 0),
        (4, 4, "FAILED", 0, 1),
    ]
    jobs = {e.index: e.job_id for e in result.entries}
    assert [b["jobId"] for b in batches] == [jobs[0], jobs[2], jobs[4]]
    assert all(b["accountedAt"] and b["childExecutionArn"] for b in batches)


def test_the_runner_finds_a_deployed_stack_by_its_name_as_on_aws(full: Deployed):
    runner = OrchestratorRun.for_stack(full.stack.name, full.emulator.endpoint_url)
    assert runner.stack.outputs == full.stack.outputs
    assert runner.stack.parameters["Patterns"] == "full"


def test_the_runners_command_runs_a_request_on_a_deployed_stack(full: Deployed):
    """What a user runs against a stack on AWS; here the SDK's AWS_ENDPOINT_URL names the emulator."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "local_emulator.runner",
            "--stack",
            full.stack.name,
            str(TEST_INPUTS / "orchestrator-step-function-payload.json"),
        ],
        cwd=ROOT,
        env={**os.environ, "AWS_ENDPOINT_URL": full.emulator.endpoint_url},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "SUCCEEDED in" in result.stdout and "2 entries (2 succeeded)" in result.stdout
