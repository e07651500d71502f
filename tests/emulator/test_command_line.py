"""The emulator as users run it: `python -m local_emulator run | serve | invoke`, and the plain
AWS CLI against `serve`."""

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from local_emulator.server import free_port
from tests.emulator.conftest import CALLBACK_ONLY
from tests.support.paths import ROOT, TEST_INPUTS

FAST_PARAMS = [arg for key, value in CALLBACK_ONLY.items() for arg in ("--param", f"{key}={value}")]


def emulator_command(port: int, *args: str) -> list[str]:
    return [sys.executable, "-m", "local_emulator", "--port", str(port), *FAST_PARAMS, *args]


def test_run_reports_every_entry_and_exits_non_zero_when_one_failed(tmp_path):
    result = subprocess.run(
        emulator_command(
            free_port(),
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
    assert any("entries 3/3 done" in line for line in lines), "progress is shown"
    table = {line.split()[1]: line for line in lines if line[:1].isdigit()}
    assert "SUCCEEDED" in table["invoke1"] and "SUCCEEDED" in table["invoke3"]
    assert "FAILED" in table["invoke2"] and "Job.SimulatedFailure" in table["invoke2"]
    [record] = list(tmp_path.iterdir())
    entries = json.loads((record / "entries.json").read_text())
    assert [e["status"] for e in entries["entries"]] == ["SUCCEEDED", "FAILED", "SUCCEEDED"]


def test_run_rejects_a_payload_that_is_not_json(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = subprocess.run(
        emulator_command(free_port(), "run", str(bad)), cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert "error:" in result.stderr


def test_invoke_runs_one_function_like_sam_local_invoke():
    result = subprocess.run(
        emulator_command(
            free_port(),
            "invoke",
            "CallbackNotifyFunction",
            "--event",
            str(TEST_INPUTS / "callbacknotifyfunction-payload.json"),
        ),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    # The sample's placeholder token names no waiting task: the callback is reported undeliverable.
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"delivered": False, "reason": "InvalidToken"}
    assert "START RequestId" in result.stderr and "callback ignored" in result.stderr


@pytest.fixture
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
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    cli = str(Path(sys.executable).parent / "aws")
    result = subprocess.run(
        [cli, *args, "--output", "json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout or "{}")


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
    deadline = time.monotonic() + 120
    while (
        described := aws(endpoint, "stepfunctions", "describe-execution", "--execution-arn", started["executionArn"])
    )["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(1)

    assert described["status"] == "SUCCEEDED"
    output = json.loads(described["output"])
    assert [e["status"] for e in output["entries"]] == ["SUCCEEDED", "SUCCEEDED"]
    history = aws(endpoint, "stepfunctions", "get-execution-history", "--execution-arn", started["executionArn"])
    assert history["events"][-1]["type"] == "ExecutionSucceeded"
    jobs = aws(endpoint, "batch", "describe-jobs", "--jobs", *[e["jobId"] for e in output["entries"]])["jobs"]
    assert [j["status"] for j in jobs] == ["SUCCEEDED", "SUCCEEDED"]
