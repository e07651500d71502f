"""The whole application through the emulator, on the stack that runs every demonstration pattern:
the same template, state machines, functions and batch script as on AWS. Assertions read execution
histories, job records, results in S3 and the run's record. The lean path, failures and the audit
table are in test_lean_path.py (two modules: two workers run them at once)."""

import json
import os
import subprocess
import sys

import pytest

from local_emulator.run_record import write_record
from local_emulator.runner import OrchestratorRun
from tests.emulator.readings import entered, job, job_log, scheduled, transitions_of_run
from tests.emulator.stacks import Deployed, payload
from tests.support.paths import ROOT, TEST_INPUTS


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
    # The run's cost counts the states its executions entered as their histories show them, and a
    # Fargate task for the batch's job and each child of its array job.
    cost = result.report["cost"]
    assert cost["usage"]["stateTransitions"] == transitions_of_run(full, result.execution_arn)
    array_jobs = [
        e for e in history if e["type"] == "TaskSucceeded" and "submitJob" in e["taskSucceededEventDetails"]["resource"]
    ]
    [array_size] = [json.loads(e["taskSucceededEventDetails"]["output"])["ArrayProperties"]["Size"] for e in array_jobs]
    assert cost["usage"]["fargateTasks"] == 1 + array_size
    assert cost["total"] == pytest.approx(sum(cost["parts"].values()), abs=1e-5)
    [job_id] = {e.job_id for e in result.entries}
    described = job(full, job_id)
    assert described["status"] == "SUCCEEDED" and described["container"]["exitCode"] == 0
    run_id = result.run_id
    assert described["jobName"] == f"run-{run_id}-b0"
    assert described["parameters"]["reportKey"] == f"runs/{run_id}/reports/000000000-000000001.bin"
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
