"""The whole application through the emulator, on stacks that take the lean path (each batch's job
and its account only): failures and how each is detected, requests refused before any work, and
the audit table. The same template, state machines, functions and batch script as on AWS."""

import json
import os
import signal
import time

import pytest

from tests.emulator.readings import entered, job, scheduled, transitions_of_run
from tests.emulator.stacks import SLOW_HEARTBEAT_SECONDS, Deployed, payload


def test_the_lean_path_runs_only_the_job_and_its_account(callback_only: Deployed):
    result = callback_only.run({"input": {"entries": [{"name": f"lean{i}"} for i in range(5)], "batchSize": 5}})

    assert result.status == "SUCCEEDED" and [e.status for e in result.entries] == ["SUCCEEDED"] * 5
    [batch] = callback_only.batches(result.execution_arn)
    history = callback_only.history(batch["executionArn"])
    assert scheduled(history) == ["lambda:invoke.waitForTaskToken", "lambda:invoke"]
    assert entered(history) == ["Which path?", "Run job", "Account"], "3 transitions for the whole batch"
    cost = result.report["cost"]
    assert cost["usage"]["stateTransitions"] == transitions_of_run(callback_only, result.execution_arn) == 9
    assert cost["usage"]["fargateTasks"] == 1 and cost["parts"]["Fargate"] > 0


def test_a_failing_entry_fails_alone_in_its_batch(callback_only: Deployed):
    result = callback_only.run(payload("orchestrator-with-failure-payload.json"))

    # No failure is tolerated by default: the run fails, and says why.
    assert (result.status, result.error) == ("FAILED", "EntriesFailed")
    assert result.cause.startswith("1 of 3 entries failed, more than tolerated")
    assert [(e.name, e.status, e.error) for e in result.entries] == [
        ("invoke1", "SUCCEEDED", ""),
        ("invoke2", "FAILED", "Entry.Failed"),
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
    assert reported == {"jobId": job_id, "attempt": 1, "entries": 3, "failed": 1}
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


@pytest.mark.minutes
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
