"""Lambda workers forked from one warm interpreter (local_emulator/lambda_fork_server.py) are the
workers a cold start gives, and a function they could not be is started cold."""

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local_emulator.lambda_runtime import ForkedProcess, ForkServer, Worker

# What a handler can observe of the process it runs in (not the modules already imported in it).
OBSERVER = """
import locale, os, signal, sys, time

def handler(event, context):
    return {
        "environment": dict(os.environ),
        "cwd": os.getcwd(),
        "path": sys.path,
        "session_leader": os.getsid(0) == os.getpid(),
        "encodings": [sys.getfilesystemencoding(), locale.getpreferredencoding(), sys.stdout.encoding],
        "timezone": list(time.tzname),
        "flags": [sys.flags.isolated, sys.flags.utf8_mode],
        "signals": [str(signal.getsignal(s)) for s in (signal.SIGCHLD, signal.SIGINT, signal.SIGPIPE, signal.SIGTERM)],
        "child_status": os.waitpid(os.spawnv(os.P_NOWAIT, "/bin/sh", ["sh", "-c", "exit 3"]), 0)[1] >> 8,
        # stdout and stderr: the one (deleted) file the invocation's log is written to
        "standard_streams": [os.path.samestat(os.fstat(1), os.fstat(2)), os.readlink("/proc/self/fd/1")[-9:]],
        "remaining": context.get_remaining_time_in_millis() > 0,
        "event": event,
    }
"""


@pytest.fixture
def shared(tmp_path: Path) -> dict[str, str]:
    """An emulator-wide environment, as LambdaRuntime gives its fork server."""
    (tmp_path / "home").mkdir()
    return {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path / "home"),
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }


@pytest.fixture
def server(shared: dict[str, str], tmp_path: Path) -> Iterator[ForkServer]:
    forks = ForkServer(shared, tmp_path / "home")
    yield forks
    forks.stop()


@pytest.fixture
def code(tmp_path: Path) -> Path:
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "app.py").write_text(OBSERVER)
    return folder


def function_environment(shared: dict[str, str], **own: str) -> dict[str, str]:
    return {
        **shared,
        "SETTING": "on",
        **own,
        # A session of the function's role, as the runtime gives each function its own.
        "AWS_ACCESS_KEY_ID": own.get("AWS_ACCESS_KEY_ID", "ASIAOBSERVER00000000"),
        "AWS_SECRET_ACCESS_KEY": "secret",
        "AWS_SESSION_TOKEN": "token",
        "_HANDLER": "app.handler",
        "AWS_LAMBDA_FUNCTION_NAME": "observer",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/observer",
        "LOCAL_EMULATOR_FUNCTION_ARN": "arn:aws:lambda:us-east-1:123456789012:function:observer",
    }


def observe(worker: Worker) -> dict[str, Any]:
    try:
        response = worker.call({"event": {"n": 1}, "requestId": "r-1", "timeoutSeconds": 10}, timeout=30)
    finally:
        worker.stop()
    assert response is not None and not response["errored"], response
    return json.loads(response["payload"])


def test_a_forked_worker_is_the_worker_a_cold_start_gives(server, code, shared):
    env = function_environment(shared)
    forked = Worker(code, env, server)
    assert isinstance(forked.process, ForkedProcess)

    seen, cold = observe(forked), observe(Worker(code, env))

    assert seen == cold
    assert seen["environment"] == env and seen["cwd"] == str(code) and seen["child_status"] == 3
    assert seen["standard_streams"] == [True, "(deleted)"]


def test_functions_with_credentials_of_their_own_are_forked_all_the_same(server, code, shared):
    for key in ("ASIAFIRSTFUNCTION000", "ASIASECONDFUNCTION00"):
        env = function_environment(shared, AWS_ACCESS_KEY_ID=key)
        assert server.fits(code, env)
        worker = Worker(code, env, server)
        assert isinstance(worker.process, ForkedProcess)
        assert observe(worker)["environment"]["AWS_ACCESS_KEY_ID"] == key


@pytest.mark.parametrize(
    "own",
    [
        {"AWS_PROFILE": "other"},  # read by botocore as the preloaded imports made a client
        {"HTTPS_PROXY": "http://127.0.0.1:3128"},  # the proxy lookup iterates the environment
        {"HOME": "/elsewhere"},
        {"LC_ALL": "C"},  # read by the interpreter as it starts
        {"PATH": "/usr/bin:/bin"},
    ],
    ids=lambda own: next(iter(own)),
)
def test_a_function_whose_environment_the_preloaded_imports_would_see_differently_starts_cold(
    server, code, shared, own
):
    env = function_environment(shared, **own)
    assert not server.fits(code, env)
    worker = Worker(code, env, server)
    assert isinstance(worker.process, subprocess.Popen)
    assert observe(worker)["environment"] == env


def test_a_function_that_packages_its_own_copy_of_a_preloaded_library_starts_cold(server, code, shared):
    (code / "boto3").mkdir()
    (code / "boto3" / "__init__.py").write_text("PACKAGED = True\n")
    env = function_environment(shared)
    assert not server.fits(code, env)
    assert isinstance(Worker(code, env, server).process, subprocess.Popen)


def test_a_killed_forked_worker_is_seen_to_end(server, code, shared):
    worker = Worker(code, function_environment(shared), server)
    assert worker.alive()
    worker.process.kill()
    assert worker.process.wait() == 0 and not worker.alive()


def test_the_server_ends_when_its_runtime_is_gone_and_its_workers_when_their_requests_end(server, code, shared):
    worker = Worker(code, function_environment(shared), server)
    server.connection.close()  # as when the emulator's process dies: the kernel closes its end
    server.process.wait(timeout=10)
    assert worker.alive(), "a worker outlives the server it was forked from, as its pool holds it"
    worker.process.stdin.close()  # the emulator's end of the worker's requests
    worker.process.wait()
    assert not worker.alive()


def test_once_the_server_is_gone_workers_start_cold(server, code, shared):
    env = function_environment(shared)
    server.process.kill()
    server.process.wait()

    worker = Worker(code, env, server)

    assert isinstance(worker.process, subprocess.Popen) and not server.fits(code, env)
    assert observe(worker)["environment"] == env
