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


@pytest.fixture(scope="module")
def token_table(endpoint: str) -> str:
    """The template's task token table, where the submit function keeps a job's token."""
    return create_table_like("TaskTokenTable", TOKEN_TABLE, boto3.client("dynamodb", endpoint_url=endpoint))


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
def job_environment(endpoint: str, tmp_path: Path) -> dict[str, str]:
    """What the job container sees: AWS_BATCH_* variables, credentials, the endpoint, a private /tmp."""
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
        "TASK_TOKEN_TABLE": TOKEN_TABLE,
    }


def run(command: list[str], env: dict[str, str], timeout: float = 60, **popen: Any) -> Run:
    process = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, **popen)
    return Run(process.returncode, process.stdout, process.stderr)


def script_command(shell: list[str], reference: str, entry: str, sleep: int = 0, heartbeat: int = 0) -> list[str]:
    return [*shell, str(BATCH_SCRIPT), reference, entry, str(sleep), str(heartbeat)]


@pytest.fixture
def clean_environ() -> None:
    assert "AWS_PROFILE" not in os.environ
