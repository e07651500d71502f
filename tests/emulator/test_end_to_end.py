"""The whole application through the emulator: the same template, state machines, functions and
batch script as on AWS. Assertions read execution histories, job records and outputs."""

import json
import os
import signal
import time
from typing import Any

from local_emulator.run import OrchestratorRun
from tests.emulator.conftest import SLOW_HEARTBEAT_SECONDS, Deployed, payload


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


def test_sample_payload_every_entry_succeeds_through_every_pattern(full: Deployed):
    entries = payload("orchestrator-step-function-payload.json")["input"]["entries"]

    result = full.run(payload("orchestrator-step-function-payload.json"))

    assert result.status == "SUCCEEDED"
    assert [(e.index, e.name, e.status) for e in result.entries] == [
        (0, "invoke1", "SUCCEEDED"),
        (1, "invoke2", "SUCCEEDED"),
    ]
    sfn = full.client("stepfunctions")
    for entry, outcome in zip(entries, result.entries, strict=True):
        child = sfn.describe_execution(executionArn=outcome.child_execution_arn)
        output = json.loads(child["output"])
        assert child["status"] == "SUCCEEDED"
        assert scheduled(full.history(outcome.child_execution_arn)) == [
            "lambda:invoke.waitForTaskToken",  # (a) notify function callback
            "states:startExecution.sync:2",  # (b) nested state machine
            "batch:submitJob.sync",  # (c) native array job
            "lambda:invoke.waitForTaskToken",  # (d) submit function + job callback
        ]
        assert output["acknowledgement"] == {"acknowledged": True}
        # (d): the callback carried what the real script built
        callback = output["job"]
        assert callback == {
            "status": "SUCCEEDED",
            "jobId": outcome.job_id,
            "arrayIndex": "",
            "attempt": 1,
            "workedSeconds": 1,
            "entry": entry,
        }
        described = job(full, outcome.job_id)
        assert described["status"] == "SUCCEEDED" and described["container"]["exitCode"] == 0
        assert described["parameters"]["entry"] == json.dumps(entry, separators=(",", ":"))
        log = job_log(full, described)
        assert "reported success" in log
        token = full.token_of_job(outcome.job_id)
        assert token not in log and token not in json.dumps(described), "the job holds a reference, not the token"


def test_nested_sync2_machine_returns_its_json_output(full: Deployed):
    result = full.run({"input": {"entries": [{"name": "nested"}]}})

    child = json.loads(
        full.client("stepfunctions").describe_execution(executionArn=result.entries[0].child_execution_arn)["output"]
    )
    nested = full.client("stepfunctions").describe_execution(executionArn=child["nested"]["executionArn"])
    assert nested["status"] == "SUCCEEDED"
    assert child["nested"]["output"] == {"entry": {"name": "nested"}, "notified": True, "waitedSeconds": 1}
    assert json.loads(nested["output"]) == child["nested"]["output"]
    assert scheduled(full.history(nested["executionArn"])) == ["lambda:invoke.waitForTaskToken"]


def test_native_array_job_runs_every_child_with_its_index(full: Deployed):
    result = full.run({"input": {"entries": [{"name": "array"}]}})

    child = json.loads(
        full.client("stepfunctions").describe_execution(executionArn=result.entries[0].child_execution_arn)["output"]
    )
    parent = job(full, child["arrayJob"]["jobId"])
    assert parent["status"] == "SUCCEEDED" and parent["arrayProperties"]["size"] == 2
    for index in range(2):
        described = job(full, f"{parent['jobId']}:{index}")
        assert described["status"] == "SUCCEEDED"
        printed = json.loads(job_log(full, described).strip().splitlines()[-1])
        assert printed["arrayIndex"] == str(index) and printed["entry"] == {"name": "array"}


def test_failing_script_fails_its_entry_with_the_scripts_error_and_the_others_succeed(callback_only: Deployed):
    runner = OrchestratorRun(callback_only.emulator.endpoint_url, callback_only.stack)
    execution = runner.start(payload("orchestrator-with-failure-payload.json"))
    description = runner.wait(execution, 3, 120, progress=False)
    result = runner.result(description, 0)

    # No failure is tolerated by default: the parent fails, and says why.
    assert (result.status, result.error) == ("FAILED", "EntriesFailed")
    assert result.cause.startswith("1 of 3 entries failed, more than the 0 tolerated")
    assert [e.status for e in result.entries] == ["SUCCEEDED", "FAILED", "SUCCEEDED"]
    account = runner.account(description)
    assert (account["total"], account["succeeded"], account["failed"]) == (3, 2, 1)
    reported = account["entries"][1]
    assert (reported["name"], reported["status"], reported["error"]) == ("invoke2", "FAILED", "Job.SimulatedFailure")
    # The account names the error; the cause (up to 32 KiB) is the child's and the audit table's.
    assert "cause" not in reported and "expectedJobStatus" in result.entries[1].cause
    described = job_of_child(callback_only, reported["childExecutionArn"])
    # 1: the script's own exit; 143: the ended child's jobs are terminated, which can overtake
    # a script that has reported and is exiting.
    assert described["status"] == "FAILED" and described["container"]["exitCode"] in (1, 143)


def test_failures_within_the_tolerated_percentage_let_the_run_succeed(tolerant: Deployed):
    result = tolerant.run(payload("orchestrator-with-failure-payload.json"))

    assert result.status == "SUCCEEDED"
    assert [e.status for e in result.entries] == ["SUCCEEDED", "FAILED", "SUCCEEDED"]


def job_of_child(deployed: Deployed, child_arn: str) -> dict[str, Any]:
    """The job the submit function submitted for a child: it is named after the child."""
    name = f"{child_arn.rsplit(':', 1)[-1]}-job"
    listed = deployed.client("batch").list_jobs(
        jobQueue=deployed.stack.outputs["JobQueueArn"], filters=[{"name": "JOB_NAME", "values": [name]}]
    )["jobSummaryList"]
    [summary] = listed
    return deployed.finished_job(summary["jobId"])


def test_a_killed_job_is_detected_by_its_batch_event_in_seconds(slow: Deployed):
    runner, execution, job_id, process = slow.start_with_running_job("killed")
    os.killpg(process.pid, signal.SIGKILL)  # the container dies: no callback
    killed_at = time.monotonic()

    description = runner.wait(execution, 1, timeout_seconds=120, progress=False)
    detected_after = time.monotonic() - killed_at

    [entry] = runner.result(description, 0).entries
    assert (entry.status, entry.error) == ("FAILED", "Batch.JobFailed")
    assert f"job {job_id}" in entry.cause and "exit code 137" in entry.cause
    # The error names the event path; the bound leaves room for a loaded machine.
    assert detected_after < SLOW_HEARTBEAT_SECONDS / 2, "found by the job's state-change event, not the heartbeat"
    assert job(slow, job_id)["container"]["exitCode"] == 137


def test_a_stuck_job_is_detected_by_the_heartbeat_timeout_without_hanging(slow: Deployed):
    runner, execution, _, process = slow.start_with_running_job("stuck")
    os.killpg(process.pid, signal.SIGSTOP)  # alive but silent: no heartbeat, no exit, no event
    stuck_at = time.monotonic()
    try:
        description = runner.wait(execution, 1, timeout_seconds=120, progress=False)
        detected_after = time.monotonic() - stuck_at
    finally:
        os.killpg(process.pid, signal.SIGKILL)

    [entry] = runner.result(description, 0).entries
    assert (entry.status, entry.error) == ("FAILED", "Job.HeartbeatTimeout")
    assert detected_after < SLOW_HEARTBEAT_SECONDS + 5


def test_run_record_holds_histories_and_jobs_but_no_token(full: Deployed, tmp_path):
    runner = OrchestratorRun(full.emulator.endpoint_url, full.stack)
    execution = runner.start({"input": {"entries": [{"name": "recorded"}]}})
    result = runner.result(runner.wait(execution, 1, 120, progress=False), 0)
    runner.write_record(result, tmp_path, full.emulator.lambdas.journal)

    tokens = full.task_tokens()
    assert len(tokens) >= 3 and all(len(token) >= 500 for token in tokens)  # acknowledgement, notification, job
    files = list(tmp_path.rglob("*.*"))
    assert any(f.parent.name == "executions" for f in files) and any(f.suffix == ".log" for f in files)
    text = "\n".join(f.read_text() for f in files)
    assert all(token not in text for token in tokens)
    assert all(token[-8:] in text for token in tokens)


def child_count(deployed: Deployed) -> int:
    sfn = deployed.client("stepfunctions")
    arn = deployed.stack.outputs["SyncNestedStateMachineArn"]
    return sum(len(page["executions"]) for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn))


def test_a_bad_request_is_rejected_before_any_child_starts(callback_only: Deployed):
    children_before = child_count(callback_only)
    bad = {"input": {"entries": [{"name": "a"}, {"name": "a"}, "text", {"id": 3}]}}

    result = callback_only.run(bad, timeout=60)

    assert (result.status, result.error) == ("FAILED", "InvalidRequest")
    assert result.cause == (
        "3 problem(s): input.entries[1].name: duplicate name 'a' (also input.entries[0]); "
        "input.entries[2]: must be a JSON object, not str; input.entries[3].name: Field required"
    )
    assert child_count(callback_only) == children_before


def test_the_audit_table_holds_the_runs_summary_and_every_entry(callback_only: Deployed):
    result = callback_only.run(payload("orchestrator-with-failure-payload.json"))

    [summary, *entries] = callback_only.audit(result.execution_arn)
    assert summary["entryIndex"] == -1
    assert (summary["status"], summary["total"], summary["succeeded"], summary["failed"]) == ("FAILED", 3, 2, 1)
    assert summary["executionArn"] == result.execution_arn and summary["finishedAt"] >= summary["startedAt"]
    assert [(e["entryIndex"], e["name"], e["status"]) for e in entries] == [
        (i, r.name, r.status) for i, r in enumerate(result.entries)
    ]
    for item, reported in zip(entries, result.entries, strict=True):
        assert (item["jobId"], item["attempts"], item["childExecutionArn"]) == (
            reported.job_id,
            reported.attempts,
            reported.child_execution_arn,
        )
        assert reported.job_id and reported.attempts == 1
    failed = entries[1]
    assert (failed["error"], failed["cause"]) == (result.entries[1].error, result.entries[1].cause)
