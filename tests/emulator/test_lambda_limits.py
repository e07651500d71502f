"""The limits of Lambda's execution environment, as the emulator's workers keep them: /tmp of the
function's EphemeralStorage, the function's MemorySize, 1,024 file descriptors, read-only code."""

import base64
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

from local_emulator.lambda_runtime import ForkedProcess, LambdaRuntime
from local_emulator.patches import awslambda
from local_emulator.patches.registry import Patcher
from local_emulator.server import Emulator, free_port
from tests.emulator.patch_probes import Aws, create_function, unique

MB = 1024 * 1024

TMP_WRITER = """
import os, tempfile

def handler(event, context):
    path = os.path.join(tempfile.gettempdir(), "data")
    try:
        with open(path, "wb") as out:
            for _ in range(event["mb"]):
                out.write(b"x" * 1048576)
        return event["mb"]
    finally:
        os.remove(path)
"""

TMP_OBSERVER = """
import os, tempfile

def handler(event, context):
    if event.get("mark"):
        with open(os.path.join("/tmp", event["mark"]), "w"):
            pass
    stat = os.statvfs("/tmp")
    try:
        with open("written-by-the-handler", "w"):
            code_error = None
    except OSError as error:
        code_error = f"[Errno {error.errno}] {error.strerror}"
    return {
        "tempdir": tempfile.gettempdir(),
        "size_mb": stat.f_blocks * stat.f_frsize // 1048576,
        "listing": sorted(os.listdir("/tmp")),
        "cwd": os.getcwd(),
        "code_error": code_error,
    }
"""

MEMORY_HOLDER = """
import time

def handler(event, context):
    held = b"x" * (event["mb"] * 1048576)
    if event.get("hold"):
        time.sleep(context.get_remaining_time_in_millis() / 1000)
    return len(held)
"""

# Imports what this application's functions import, and makes three clients, in a 128 MB function.
LIBRARIES = """
import boto3, pydantic
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import BaseModel

def handler(event, context):
    clients = [boto3.client(name) for name in ("s3", "dynamodb", "stepfunctions")]
    Logger().info("clients made", extra={"clients": len(clients)})
    return len(clients)
"""

CHILD_HOLDER = """
import subprocess, sys

def handler(event, context):
    held = "import time; held = b'x' * (200 * 1048576); time.sleep(30)"
    return subprocess.run([sys.executable, "-c", held]).returncode
"""


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(port=free_port()) as running:
        yield running


@pytest.fixture(scope="module")
def client(emulator: Emulator) -> Any:
    return boto3.client("lambda", endpoint_url=emulator.endpoint_url)


def function(emulator: Emulator, code: str, **extra: Any) -> str:
    return create_function(Aws(emulator.endpoint_url), code, **{"Timeout": 30, **extra})


def invoke(client: Any, name: str, event: Any = None) -> tuple[Any, dict[str, Any]]:
    response = client.invoke(FunctionName=name, Payload=json.dumps(event or {}), LogType="Tail")
    return json.loads(response["Payload"].read()), response


def test_tmp_holds_the_functions_ephemeral_storage_and_a_write_past_it_fails_with_enospc(emulator, client):
    name = function(emulator, TMP_WRITER)

    assert invoke(client, name, {"mb": 400})[0] == 400
    error, response = invoke(client, name, {"mb": 600})

    assert response["FunctionError"] == "Unhandled"
    assert (error["errorType"], error["errorMessage"]) == ("OSError", "[Errno 28] No space left on device")


def test_tmp_is_the_execution_environments_own_and_kept_while_it_is_warm(emulator, client):
    first = function(emulator, TMP_OBSERVER)
    second = function(emulator, TMP_OBSERVER, EphemeralStorage={"Size": 1024})
    mark = unique("mark")

    marked = invoke(client, first, {"mark": mark})[0]
    warm = invoke(client, first)[0]
    other = invoke(client, second)[0]

    # What the worker runs from under the host's /tmp (the emulator's state folder, there by default;
    # the interpreter and the project, in a clone under /tmp) shows in the function's /tmp too, the
    # one way to them (docs/local-emulator.md).
    from local_emulator.lambda_worker import host_tmp_entries_in_use

    way_to_code = sorted(host_tmp_entries_in_use(str(emulator.state_dir)))
    assert marked["tempdir"] == "/tmp" and marked["size_mb"] == 512 and other["size_mb"] == 1024
    assert marked["listing"] == warm["listing"] == sorted([mark, *way_to_code])
    assert other["listing"] == way_to_code
    assert not os.path.exists(os.path.join("/tmp", mark)), "the host's /tmp is untouched"


@pytest.mark.parametrize("started", ["forked", "cold"])
def test_each_worker_has_its_tmp_and_read_only_code_however_it_started(emulator, client, started):
    # LC_ALL is read by the interpreter as it starts: a function that sets it gets a cold worker.
    environment = {"Variables": {"LC_ALL": "C.UTF-8"}} if started == "cold" else {"Variables": {}}
    name = function(emulator, TMP_OBSERVER, Environment=environment)

    seen = invoke(client, name)[0]

    [pool] = [pool for key, pool in emulator.lambdas.pools.items() if key[0].endswith(f":{name}")]
    assert isinstance(pool.idle[0].process, ForkedProcess) is (started == "forked")
    assert seen["size_mb"] == 512 and seen["cwd"] == str(pool.code_dir)
    assert seen["code_error"] == "[Errno 30] Read-only file system"


def test_a_worker_mounts_nothing_on_the_host(emulator, client):
    before = Path("/proc/self/mountinfo").read_text()
    name = function(emulator, TMP_OBSERVER)

    invoke(client, name)

    assert Path("/proc/self/mountinfo").read_text() == before


def test_a_handler_past_its_memory_size_ends_out_of_memory_and_the_next_invocation_starts_anew(emulator, client):
    name = function(emulator, MEMORY_HOLDER, MemorySize=128)

    error, response = invoke(client, name, {"mb": 200, "hold": True})
    request_id = emulator.lambdas.journal.invocations[-1].request_id
    after, later = invoke(client, name, {"mb": 16})

    assert response["FunctionError"] == "Unhandled"
    assert error == {
        "errorType": "Runtime.OutOfMemory",
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: signal: killed",
    }
    log = base64.b64decode(response["LogResult"]).decode()
    assert "Memory Size: 128 MB\tMax Memory Used: 128 MB\tStatus: error\tError Type: Runtime.OutOfMemory" in log
    assert after == 16 * MB and "FunctionError" not in later


def test_a_small_function_with_the_applications_libraries_works_in_128_mb(emulator, client):
    name = function(emulator, LIBRARIES, MemorySize=128)

    result, response = invoke(client, name)

    assert result == 3 and "FunctionError" not in response
    report = base64.b64decode(response["LogResult"]).decode().splitlines()[-1]
    used = int(report.split("Max Memory Used: ")[1].split(" MB")[0])
    assert used < 128, report


def test_the_memory_of_processes_the_handler_starts_counts(emulator, client):
    name = function(emulator, CHILD_HOLDER, MemorySize=128)

    error, response = invoke(client, name)

    assert response["FunctionError"] == "Unhandled" and error["errorType"] == "Runtime.OutOfMemory"


def test_a_worker_that_ends_by_itself_is_reported_as_lambda_reports_it(emulator, client):
    name = function(emulator, "import os\ndef handler(event, context):\n    os._exit(3)\n")

    error, response = invoke(client, name)

    request_id = emulator.lambdas.journal.invocations[-1].request_id
    assert response["FunctionError"] == "Unhandled"
    assert error == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited without providing a reason",
    }


def test_synchronous_and_asynchronous_request_payload_limits_are_enforced(emulator, client):
    name = function(emulator, "def handler(event, context):\n    return len(event['d'])\n")
    padding = len(json.dumps({"d": ""}))
    for invocation_type, limit in (("RequestResponse", 6 * MB), ("Event", MB)):
        client.invoke(
            FunctionName=name, InvocationType=invocation_type, Payload=json.dumps({"d": "x" * (limit - padding)})
        )
        # botocore models the error as RequestTooLargeException; Lambda's code is RequestEntityTooLargeException.
        with pytest.raises(client.exceptions.ClientError) as refused:
            client.invoke(
                FunctionName=name,
                InvocationType=invocation_type,
                Payload=json.dumps({"d": "x" * (limit - padding + 1)}),
            )
        assert refused.value.response["Error"] == {
            "Code": "RequestEntityTooLargeException",
            "Message": f"Request must be smaller than {limit} bytes for the InvokeFunction operation",
        }


def test_where_no_worker_can_have_a_tmp_of_its_own_the_emulator_says_so_and_goes_on(monkeypatch, caplog, tmp_path):
    refusal = "[Errno 1] unshare(CLONE_NEWUSER | CLONE_NEWNS): Operation not permitted"
    monkeypatch.setattr(awslambda, "private_tmp_refusal", lambda: refusal)
    runtime = LambdaRuntime(tmp_path, "http://127.0.0.1:9", "us-east-1")
    patcher = Patcher()
    try:
        with caplog.at_level(logging.WARNING):
            awslambda.lambda_tmp_is_the_functions_ephemeral_storage(patcher, SimpleNamespace(lambdas=runtime))
    finally:
        patcher.undo()

    assert not runtime.private_tmp
    assert refusal in caplog.text and "EphemeralStorage is NOT enforced" in caplog.text


def test_what_a_worker_runs_from_under_the_hosts_tmp_stays_reachable():
    """A project cloned under /tmp runs its workers from there (interpreter, libraries, the
    emulator): a worker's private /tmp must still lead to them, or a module not yet imported cannot
    be (a fresh clone under /tmp failed its demo with "No module named 'ijson'")."""
    import shutil
    import subprocess
    import sys
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="worker-libraries-", dir="/tmp"))  # the host's /tmp, on purpose
    try:
        (root / "lib").mkdir()
        (root / "lib" / "late_import.py").write_text("ANSWER = 42\n")
        (root / "code").mkdir()
        program = (
            "import sys; from local_emulator.lambda_worker import private_tmp\n"
            f"sys.path.append({str(root / 'lib')!r}); private_tmp(1)\n"
            "import late_import, os; print(late_import.ANSWER, sorted(os.listdir('/tmp')) != [])"
        )
        done = subprocess.run(
            [sys.executable, "-c", program], cwd=root / "code", capture_output=True, text=True, timeout=60
        )
    finally:
        shutil.rmtree(root)
    assert (done.returncode, done.stdout.strip()) == (0, "42 True"), done.stderr[-2000:]
