"""The warm AWS CLI of local jobs answers as the CLI's own process would, and dies with its job."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from local_emulator.aws_cli_server import RECEIVE_SECONDS, real_aws_program
from local_emulator.server import Emulator

REAL_AWS = str(real_aws_program())


@pytest.fixture
def job_env(emulator: Emulator, tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": f"{emulator.aws_cli.bin}:{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "AWS_ENDPOINT_URL": emulator.endpoint_url,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


def both(args: list[str], env: dict[str, str], cwd: Path, stdin: str = "") -> tuple[Any, Any]:
    """The call through the warm CLI (`aws` first on PATH), and through the CLI's own process."""
    outcomes = []
    for program in ("aws", REAL_AWS):
        done = subprocess.run([program, *args], env=env, cwd=cwd, input=stdin, capture_output=True, text=True)
        outcomes.append((done.returncode, done.stdout, done.stderr))
    return outcomes[0], outcomes[1]


def test_the_jobs_aws_is_the_warm_cli(emulator: Emulator, job_env: dict[str, str]):
    found = subprocess.run(["sh", "-c", "command -v aws"], env=job_env, capture_output=True, text=True).stdout
    assert Path(found.strip()).parent == emulator.aws_cli.bin


@pytest.mark.parametrize(
    "args",
    [
        ["--version"],
        ["s3api", "list-buckets", "--query", "Buckets[].Name"],
        ["stepfunctions", "send-task-heartbeat", "--task-token", "not-a-token"],  # a service error: 254
        ["stepfunctions", "send-task-heartbeat"],  # a usage error: 2
        ["s3api", "head-object", "--bucket", "warm-cli", "--key", "missing"],
        ["s3api", "list-buckets", "--output", "text"],
    ],
    ids=["version", "json-output", "service-error", "usage-error", "not-found", "text-output"],
)
def test_a_call_answers_as_the_clis_own_process(args: list[str], job_env: dict[str, str], tmp_path: Path):
    boto3.client("s3", endpoint_url=job_env["AWS_ENDPOINT_URL"]).create_bucket(Bucket="warm-cli")
    warm, own = both(args, job_env, tmp_path)
    assert warm == own
    assert warm[1] or warm[2]  # it said something: the comparison compared output


def test_calls_after_the_server_has_made_their_service_answer_alike(job_env: dict[str, str], tmp_path: Path):
    """After a service's first call the server makes its commands and loads its models for the next
    calls' children: those answer as the first did, and as the CLI's own process."""
    args = ["stepfunctions", "list-state-machines", "--max-results", "5"]
    first, second = (subprocess.run(["aws", *args], env=job_env, capture_output=True, text=True) for _ in range(2))
    _, own = both(args, job_env, tmp_path)
    assert (first.returncode, first.stdout, first.stderr) == (second.returncode, second.stdout, second.stderr) == own
    assert own[0] == 0 and '"stateMachines"' in own[1]


def test_a_connection_that_is_not_a_call_leaves_the_server_answering(emulator: Emulator, job_env: dict[str, str]):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as stranger:
        stranger.connect(str(emulator.aws_cli.bin.parent / "socket"))
        stranger.sendall(b"GET / HTTP/1.1\r\n\r\n")
        with contextlib.suppress(ConnectionResetError):  # closed with what it sent unread
            stranger.recv(100)  # its status (255), or nothing
    assert "a call could not be received" in (emulator.aws_cli.bin.parent / "server.log").read_text()
    done = subprocess.run(["aws", "--version"], env=job_env, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("aws-cli/")


def test_a_connection_that_sends_nothing_holds_up_no_other_call(emulator: Emulator, job_env: dict[str, str]):
    """Each call is received in its own child: one that never comes waits there, not in the server."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as silent:
        silent.connect(str(emulator.aws_cli.bin.parent / "socket"))
        # Within the receive timeout: a server that waited for the silent caller would not answer in time.
        done = subprocess.run(
            ["aws", "--version"], env=job_env, capture_output=True, text=True, timeout=RECEIVE_SECONDS - 2
        )
        assert done.returncode == 0 and done.stdout.startswith("aws-cli/")


def test_the_calls_folder_environment_and_standard_input_are_its_own(job_env: dict[str, str], tmp_path: Path):
    boto3.client("s3", endpoint_url=job_env["AWS_ENDPOINT_URL"]).create_bucket(Bucket="warm-cli")
    (tmp_path / "request.json").write_text('{"Bucket": "warm-cli", "Key": "from-a-file"}')
    env = {**job_env, "AWS_DEFAULT_OUTPUT": "text"}
    s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"])
    for key, program in {"warm": "aws", "own": REAL_AWS}.items():
        subprocess.run(
            [program, "s3", "cp", "-", f"s3://warm-cli/{key}"],
            env=env,
            cwd=tmp_path,
            input="from stdin",
            text=True,
            check=True,
        )
        assert s3.get_object(Bucket="warm-cli", Key=key)["Body"].read() == b"from stdin"
    warm, own = both(["s3api", "put-object", "--cli-input-json", "file://request.json"], env, tmp_path)
    assert warm == own and warm[0] == 0 and "\t" in warm[1]  # the relative file was found; the output is text


def test_a_jobs_own_cli_configuration_is_honoured(job_env: dict[str, str], tmp_path: Path):
    """A config file under the job's HOME (read when the CLI makes its driver) is read for its calls."""
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "config").write_text("[default]\noutput = text\n")
    boto3.client("s3", endpoint_url=job_env["AWS_ENDPOINT_URL"]).create_bucket(Bucket="warm-cli")
    warm, own = both(["s3api", "list-buckets"], job_env, tmp_path)
    assert warm == own and warm[0] == 0 and "\t" in warm[1]


def processes_in_group(pgid: int) -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, niceness) of every process of the group."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2 :].split()
            if int(fields[2]) == pgid:
                found[int(entry.name)] = (int(fields[1]), int(fields[16]))
    return found


def wait_until(condition: Any, seconds: float = 20) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s")


def test_a_call_runs_in_its_jobs_process_group_at_its_priority_and_dies_with_it(emulator, job_env, tmp_path):
    """As a job's own `aws` process would: TerminateJob's signal to the group stops the call too."""
    boto3.client("s3", endpoint_url=job_env["AWS_ENDPOINT_URL"]).create_bucket(Bucket="warm-cli")
    job = subprocess.Popen(
        ["nice", "-n", "7", "aws", "s3", "cp", "-", "s3://warm-cli/never"],  # waits for its standard input
        env=job_env,
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        process_group=0,
    )
    server = emulator.aws_cli.process.pid
    members = wait_until(lambda: (m := processes_in_group(job.pid)) and len(m) == 2 and m)
    parent, niceness = next(member for pid, member in members.items() if pid != job.pid)
    assert parent == server and niceness == 7
    os.killpg(job.pid, signal.SIGTERM)
    assert job.wait(timeout=20) == -signal.SIGTERM
    wait_until(lambda: not processes_in_group(job.pid))
    job.stdin.close()


def test_a_call_killed_alone_ends_its_caller_by_the_same_signal(emulator, job_env, tmp_path):
    boto3.client("s3", endpoint_url=job_env["AWS_ENDPOINT_URL"]).create_bucket(Bucket="warm-cli")
    caller = subprocess.Popen(
        ["aws", "s3", "cp", "-", "s3://warm-cli/never"],
        env=job_env,
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        process_group=0,
    )
    members = wait_until(lambda: (m := processes_in_group(caller.pid)) and len(m) == 2 and m)
    os.kill(next(pid for pid in members if pid != caller.pid), signal.SIGKILL)
    assert caller.wait(timeout=20) == -signal.SIGKILL
    caller.stdin.close()


def test_the_server_ends_and_leaves_nothing_when_its_emulator_is_killed(tmp_path: Path):
    """An emulator killed with SIGKILL cannot stop its server: the server sees its pipe close and goes."""
    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from local_emulator.aws_cli_server import WarmAwsCli; import sys, time; "
            "cli = WarmAwsCli().start(); print(cli.process.pid, cli.directory, flush=True); time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    pid, directory = owner.stdout.readline().split()
    owner.kill()
    owner.wait()
    owner.stdout.close()
    assert wait_until(
        lambda: not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    )
    assert not Path(directory).exists()
