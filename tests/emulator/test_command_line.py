"""The emulator as users run it: `python -m local_emulator run | serve | invoke`, and the plain
AWS CLI against `serve`."""

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import boto3
import pytest

from local_emulator import cli
from local_emulator.server import DEFAULT_PORT, free_port
from tests.emulator.stacks import CALLBACK_ONLY
from tests.support.paths import ROOT, TEST_INPUTS

FAST_PARAMS = [arg for key, value in CALLBACK_ONLY.items() for arg in ("--param", f"{key}={value}")]


def emulator_command(port: int | None, *args: str) -> list[str]:
    given = ["--port", str(port)] if port else []
    return [sys.executable, "-m", "local_emulator", *given, *FAST_PARAMS, *args]


@pytest.fixture
def default_port_taken() -> Iterator[None]:
    """serve's default port held, as by a serve in another shell (or already held by one)."""
    with socket.socket() as holder:
        with suppress(OSError):  # already taken: all the better
            holder.bind(("127.0.0.1", DEFAULT_PORT))
        yield


def test_run_reports_every_entry_and_exits_non_zero_when_one_failed(tmp_path, default_port_taken):
    # No --port, and serve's default port taken: run listens on a free port of its own.
    result = subprocess.run(
        emulator_command(
            None,
            "run",
            str(TEST_INPUTS / "orchestrator-with-failure-payload.json"),
            "--record-dir",
            str(tmp_path),
        ),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any("entries 3/3 done (1 failed)" in line for line in lines), "progress is shown"
    [header] = [line for line in lines if line.startswith("#")]
    assert header.split() == ["#", "entry", "status", "job", "id", "attempt", "output,", "or", "error:", "cause"]
    table = {line.split()[1]: line.split(None, 5) for line in lines if line[:1].isdigit()}
    assert list(table) == ["invoke1", "invoke2", "invoke3"]
    # One batch: the three entries share its job, and each has its own result.
    assert len({row[3] for row in table.values()}) == 1
    assert [row[:3] + row[4:5] for row in table.values()] == [
        ["0", "invoke1", "SUCCEEDED", "1"],
        ["1", "invoke2", "FAILED", "1"],
        ["2", "invoke3", "SUCCEEDED", "1"],
    ]
    assert table["invoke2"][5].startswith("Entry.Failed: ")
    [ended] = [line for line in lines if line.startswith("Run ")]
    assert re.fullmatch(r"Run \S+ FAILED in [0-9.]+ s: 3 entries \(1 failed, 2 succeeded\)", ended), ended
    run_id = ended.split()[1]
    [results] = [line for line in lines if line.startswith("Results: ")]
    assert results.startswith("Results: s3://") and f"/runs/{run_id}/results/" in results
    assert any(line.startswith("Error: EntriesFailed: 1 of 3 entries failed") for line in lines)
    [record] = list(tmp_path.iterdir())
    recorded = [json.loads(line) for line in (record / "results.jsonl").read_text().splitlines()]
    assert [(e["name"], e["status"]) for e in recorded] == [
        ("invoke1", "SUCCEEDED"),
        ("invoke2", "FAILED"),
        ("invoke3", "SUCCEEDED"),
    ]
    report = json.loads((record / "report.json").read_text())
    assert (report["status"], report["report"]["failed"], report["report"]["succeeded"]) == ("FAILED", 1, 2)


def test_run_rejects_a_payload_that_is_not_json(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = subprocess.run(
        emulator_command(free_port(), "run", str(bad)), cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert "error:" in result.stderr
    assert f"error: {bad} is not JSON: " in result.stderr and "Deploying" not in result.stderr  # refused first


@pytest.mark.parametrize("given", ["0", "65536", "http"])
def test_a_port_it_could_not_listen_on_is_refused_before_anything_starts(given, capsys):
    with pytest.raises(SystemExit) as refused:
        cli.main(["--port", given, "run", str(TEST_INPUTS / "orchestrator-step-function-payload.json")])
    assert refused.value.code == 2
    assert "argument --port: " in capsys.readouterr().err


def invoke(port: int | None, function: str, event: str, *params: str) -> subprocess.CompletedProcess[str]:
    command = emulator_command(port, *params, "invoke", function, "--event", str(TEST_INPUTS / event))
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_invoke_runs_one_function_like_sam_local_invoke(default_port_taken):
    # No serve to use (the default port is held by no emulator): a stack of its own, on a free port.
    result = invoke(None, "CallbackNotifyFunction", "callbacknotifyfunction-payload.json")

    assert result.returncode == 0, result.stderr
    # Standard output is the function's result alone (for jq); the deploy and the log go to stderr.
    # The sample's placeholder token names no waiting task: the callback is reported undeliverable.
    assert json.loads(result.stdout) == {"delivered": False, "reason": "InvalidToken"}
    assert "Deploying template.yaml" in result.stderr and "START RequestId" in result.stderr
    assert "callback ignored" in result.stderr


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, dict[str, str]]]:
    port = free_port()
    process = subprocess.Popen(
        emulator_command(port, "serve"), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    outputs: dict[str, str] = {}
    deadline = time.monotonic() + 120
    try:
        key = None
        while time.monotonic() < deadline:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            if line.startswith("Key "):
                key = line.split(None, 1)[1].strip()
            elif line.startswith("Value ") and key:
                outputs[key] = line.split(None, 1)[1].strip()
            elif "until Ctrl-C" in line:
                break
        else:
            pytest.fail("serve did not come up")
        yield f"http://127.0.0.1:{port}", outputs
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0


def aws(endpoint: str, *args: str) -> dict:
    return json.loads(aws_text(endpoint, *args, "--output", "json") or "{}")


def aws_text(endpoint: str, *args: str) -> str:
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    cli = str(Path(sys.executable).parent / "aws")
    result = subprocess.run([cli, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_serve_answers_the_readme_commands_of_the_plain_aws_cli(served):
    endpoint, outputs = served
    started = aws(
        endpoint,
        "stepfunctions",
        "start-execution",
        "--state-machine-arn",
        outputs["OrchestratorStateMachineArn"],
        "--input",
        "file://test-inputs/orchestrator-step-function-payload.json",
    )
    # Waited for through boto3 (each call of the CLI costs most of a second of CPU), then read with the CLI.
    stepfunctions = boto3.client("stepfunctions", endpoint_url=endpoint)
    deadline = time.monotonic() + 120
    while stepfunctions.describe_execution(executionArn=started["executionArn"])["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(1)
    described = aws(endpoint, "stepfunctions", "describe-execution", "--execution-arn", started["executionArn"])

    assert described["status"] == "SUCCEEDED"
    # The parent's output is the run's report; the entries' results are in S3.
    full_report = json.loads(described["output"])
    report = dict(full_report)
    run_id = started["executionArn"].rsplit(":", 1)[-1]
    bucket = outputs["RunsBucketName"]
    assert report.pop("failures") == [] and report.pop("durations")["entries"]["count"] == 2
    assert report.pop("cost")["usage"]["fargateTasks"] >= 1
    assert report == {
        "runId": run_id,
        "status": "SUCCEEDED",
        "total": 2,
        "succeeded": 2,
        "failed": 0,
        "notRun": 0,
        "results": f"s3://{bucket}/runs/{run_id}/results/",
        "summary": f"s3://{bucket}/runs/{run_id}/summary.json",
    }
    history = aws(endpoint, "stepfunctions", "get-execution-history", "--execution-arn", started["executionArn"])
    assert history["events"][-1]["type"] == "ExecutionSucceeded"
    listed = aws(endpoint, "s3api", "list-objects-v2", "--bucket", bucket, "--prefix", f"runs/{run_id}/results/")
    [key] = [o["Key"] for o in listed["Contents"]]
    assert key == f"runs/{run_id}/results/000000000-000000001.jsonl"
    entries = [json.loads(line) for line in aws_text(endpoint, "s3", "cp", f"s3://{bucket}/{key}", "-").splitlines()]
    assert [(e["index"], e["name"], e["status"]) for e in entries] == [
        (0, "invoke1", "SUCCEEDED"),
        (1, "invoke2", "SUCCEEDED"),
    ]
    summary = json.loads(aws_text(endpoint, "s3", "cp", report["summary"], "-"))
    assert summary == full_report
    jobs = aws(endpoint, "batch", "describe-jobs", "--jobs", *{e["jobId"] for e in entries})["jobs"]
    assert [(j["jobName"], j["status"]) for j in jobs] == [(f"run-{run_id}-b0", "SUCCEEDED")]
    # A job's log, as operating.md reads it (the CLI the project installs is v1: no `aws logs tail`).
    [stream] = aws(
        endpoint, "batch", "describe-jobs", "--jobs", jobs[0]["jobId"], "--query", "jobs[].container.logStreamName"
    )
    log = aws_text(
        endpoint,
        "logs",
        "get-log-events",
        "--log-group-name",
        outputs["JobLogGroupName"],
        "--log-stream-name",
        stream,
        "--query",
        "events[].message",
        "--output",
        "text",
    )
    assert log.strip()


def test_invoke_uses_the_stack_a_serve_deployed_from_the_same_template_code_and_parameters(served):
    endpoint, outputs = served
    port = int(endpoint.rsplit(":", 1)[1])

    result = invoke(port, "BatchSubmitFunction", "batchjobsubmitfunction-payload.json")

    assert result.returncode == 0, result.stderr
    assert f"served at {endpoint}" in result.stderr and "Deploying" not in result.stderr
    assert "START RequestId" in result.stderr
    # As the docs say of the sample: its placeholder token names no waiting task, so nothing is submitted.
    assert json.loads(result.stdout) == {"submitted": False, "error": "TaskClosed"}
    batch = boto3.client("batch", endpoint_url=endpoint)
    jobs = batch.list_jobs(
        jobQueue=outputs["JobQueueArn"], filters=[{"name": "JOB_NAME", "values": ["run-example-run-*"]}]
    )
    assert jobs["jobSummaryList"] == []


def test_invoke_does_not_use_a_serve_of_other_parameters(served):
    endpoint, _ = served
    port = int(endpoint.rsplit(":", 1)[1])

    result = invoke(
        port, "CallbackNotifyFunction", "callbacknotifyfunction-payload.json", "--param", "NestedWaitSeconds=2"
    )

    assert result.returncode == 0, result.stderr
    assert f"The serve at {endpoint} runs another template, code or parameters" in result.stderr
    assert "Deploying template.yaml" in result.stderr
    assert json.loads(result.stdout) == {"delivered": False, "reason": "InvalidToken"}


def test_a_functions_log_is_read_with_filter_log_events(served):
    endpoint, outputs = served
    invoke(int(endpoint.rsplit(":", 1)[1]), "CallbackNotifyFunction", "callbacknotifyfunction-payload.json")

    # As operating.md reads a function's log (the CLI the project installs is v1: no `aws logs tail`).
    messages = aws_text(
        endpoint,
        "logs",
        "filter-log-events",
        "--log-group-name",
        f"/aws/lambda/{outputs['CallbackNotifyFunctionName']}",
        "--filter-pattern",
        '"callback ignored"',
        "--query",
        "events[].message",
        "--output",
        "text",
    )
    assert "task already closed; callback ignored" in messages
