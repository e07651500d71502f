import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from local_emulator.server import Emulator, free_port
from local_emulator.waiting_tasks import ReferencedTasks, WaitingTasks
from tests.script.job_script import HEARTBEAT_SECONDS, RUNS_BUCKET, SHELLS, TOKEN_TABLE, CommandLines
from tests.support.audit_table import create_table_like


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(port=free_port()) as running:
        yield running


@pytest.fixture(scope="module")
def endpoint(emulator: Emulator) -> str:
    return emulator.endpoint_url


@pytest.fixture
def clients(endpoint: str) -> dict[str, Any]:
    return {
        name: boto3.client(name, endpoint_url=endpoint) for name in ("stepfunctions", "sqs", "s3", "dynamodb", "iam")
    }


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
def waiting_tasks(clients: dict[str, Any], token_table: str, runs_bucket: str) -> WaitingTasks:
    return ReferencedTasks(
        clients["dynamodb"],
        token_table,
        clients["stepfunctions"],
        clients["sqs"],
        heartbeat_seconds=HEARTBEAT_SECONDS,
        iam=clients["iam"],
        s3=clients["s3"],
        bucket=runs_bucket,
    )


@pytest.fixture(params=sorted(SHELLS))
def shell(request: pytest.FixtureRequest) -> list[str]:
    command = SHELLS[request.param]
    if shutil.which(command[0]) is None:
        pytest.fail(f"{command[0]} is not installed: `make setup` installs it")
    return command


@pytest.fixture
def job_environment(emulator: Emulator, tmp_path: Path, token_table: str, runs_bucket: str) -> dict[str, str]:
    """What the job container sees: AWS_BATCH_* variables, credentials, the endpoint, a private /tmp,
    the template's TASK_TOKEN_TABLE and RUNS_BUCKET; the emulator's AWS CLI first on its PATH, as in
    the emulator's jobs, then the programs installed beside these tests (python3)."""
    return {
        "PATH": emulator.batch.path,
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path),
        "LANG": "C.UTF-8",
        "AWS_ENDPOINT_URL": emulator.endpoint_url,
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


@pytest.fixture
def command_lines(tmp_path: Path, job_environment: dict[str, str]) -> CommandLines:
    wrappers, log = tmp_path / "recorded-bin", tmp_path / "command-lines.log"
    wrappers.mkdir()
    for program in ("aws", "jq", "python3"):
        real = shutil.which(program, path=job_environment["PATH"]) if program == "aws" else None
        wrapper = wrappers / program
        run_it = f'exec "{real}" "$@"' if real else f'echo "{program}: not in this image" >&2; exit 127'
        wrapper.write_text(f'#!/bin/sh\nprintf \'%s\\n\' "{program} $*" >>"{log}"\n{run_it}\n')
        wrapper.chmod(0o755)
    return CommandLines(wrappers, log)


@pytest.fixture
def clean_environ() -> None:
    assert "AWS_PROFILE" not in os.environ
