import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from local_emulator.server import Emulator, free_port
from tests.support.audit_table import create_table_like
from tests.support.paths import BATCH_SCRIPT
from tests.support.waiting_tasks import ReferencedTasks, WaitingTasks

SHELLS = {"dash": ["dash"], "busybox": ["busybox", "sh"]}
# Whole-second margins around the script's heartbeat interval: this proves heartbeats flow,
# it is not a timing measurement.
HEARTBEAT_SECONDS = 8


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with Emulator(port=free_port()) as emulator:
        yield emulator.endpoint_url


@pytest.fixture
def clients(endpoint: str) -> dict[str, Any]:
    return {name: boto3.client(name, endpoint_url=endpoint) for name in ("stepfunctions", "sqs", "s3", "dynamodb")}


TOKEN_TABLE = "task-tokens"
RUNS_BUCKET = "runs"


@pytest.fixture(scope="module")
def token_table(endpoint: str) -> str:
    """The template's task token table, where the submit function keeps a job's token."""
    return create_table_like("TaskTokenTable", TOKEN_TABLE, boto3.client("dynamodb", endpoint_url=endpoint))


@pytest.fixture(scope="module")
def runs_bucket(endpoint: str) -> str:
    """The bucket of the runs (RunsBucket), where a job writes its batch's results."""
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=RUNS_BUCKET)
    return RUNS_BUCKET


@pytest.fixture
def waiting_tasks(clients: dict[str, Any], token_table: str) -> WaitingTasks:
    return ReferencedTasks(
        clients["dynamodb"], token_table, clients["stepfunctions"], clients["sqs"], heartbeat_seconds=HEARTBEAT_SECONDS
    )


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture(params=sorted(SHELLS))
def shell(request: pytest.FixtureRequest) -> list[str]:
    command = SHELLS[request.param]
    if shutil.which(command[0]) is None:
        pytest.fail(f"{command[0]} is not installed: `make setup` installs it")
    return command


@pytest.fixture
def job_environment(endpoint: str, tmp_path: Path, token_table: str, runs_bucket: str) -> dict[str, str]:
    """What the job container sees: AWS_BATCH_* variables, credentials, the endpoint, a private /tmp,
    the template's TASK_TOKEN_TABLE and RUNS_BUCKET."""
    venv_bin = str(Path(sys.executable).parent)  # the AWS CLI installed beside these tests
    return {
        "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_BATCH_JOB_ID": str(uuid.uuid4()),
        "AWS_BATCH_JOB_ATTEMPT": "1",
        "AWS_BATCH_JQ_NAME": "queue",
        "AWS_BATCH_CE_NAME": "fargate",
        "TASK_TOKEN_TABLE": token_table,
        "RUNS_BUCKET": runs_bucket,
    }


def run(command: list[str], env: dict[str, str], timeout: float = 60, **popen: Any) -> Run:
    process = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, **popen)
    return Run(process.returncode, process.stdout, process.stderr)


def script_command(shell: list[str], reference: str, results_key: str, sleep: int = 0, heartbeat: int = 0) -> list[str]:
    return [*shell, str(BATCH_SCRIPT), reference, results_key, str(sleep), str(heartbeat)]


def batch_items(*entries: dict[str, Any], first: int = 0) -> list[dict[str, Any]]:
    """A batch's entries as the submit function keeps them: {index, name, entry}, in index order."""
    return [{"index": first + i, "name": entry["name"], "entry": entry} for i, entry in enumerate(entries)]


def results_key() -> str:
    return f"runs/{uuid.uuid4().hex}/results/batch-00000.jsonl"


def read_results(s3: Any, key: str) -> tuple[bytes, list[dict[str, Any]]]:
    """The results file a job wrote: its bytes, and its JSON Lines."""
    body = s3.get_object(Bucket=RUNS_BUCKET, Key=key)["Body"].read()
    return body, json_lines(body)


def json_lines(body: bytes) -> list[dict[str, Any]]:
    """JSON Lines split at "\\n" only: str.splitlines would also split at the U+2028 a name may hold."""
    return [json.loads(line) for line in body.decode().split("\n") if line]


def has_object(s3: Any, key: str) -> bool:
    return s3.list_objects_v2(Bucket=RUNS_BUCKET, Prefix=key).get("KeyCount", 0) > 0


@dataclass
class CommandLines:
    """Wrappers of aws, jq and python3 first on a job's PATH: each records its command line, then runs
    the real program."""

    bin: Path
    log: Path

    def environment(self, env: dict[str, str]) -> dict[str, str]:
        return {**env, "PATH": f"{self.bin}:{env['PATH']}"}

    def text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def of(self, program: str) -> list[str]:
        return [line for line in self.text().splitlines() if line.split(" ", 1)[0] == program]


@pytest.fixture
def command_lines(tmp_path: Path, job_environment: dict[str, str]) -> CommandLines:
    wrappers, log = tmp_path / "recorded-bin", tmp_path / "command-lines.log"
    wrappers.mkdir()
    for program in ("aws", "jq", "python3"):
        real = shutil.which(program, path=job_environment["PATH"])
        assert real, f"{program} is not on the job's PATH"
        wrapper = wrappers / program
        wrapper.write_text(f'#!/bin/sh\nprintf \'%s\\n\' "{program} $*" >>"{log}"\nexec "{real}" "$@"\n')
        wrapper.chmod(0o755)
    return CommandLines(wrappers, log)


@pytest.fixture
def clean_environ() -> None:
    assert "AWS_PROFILE" not in os.environ
