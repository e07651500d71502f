"""What every function of the application shares: its AWS clients' retry policy, the names of a
run's Batch jobs, how a task token may appear in a log, and how a rejected input is described.

A batch's job is `run-<run>-b<first entry>`, the full path's array job `run-<run>-array-<uuid>`
(statemachines/orchestrator.asl.json). Batch's ListJobs filters names by prefix only, and a run's
name may itself start with another run's name and a dash (`nightly`, `nightly-2`): a job is the
run's only when the whole name matches.
"""

import re
from typing import Any

import boto3
from botocore.config import Config
from pydantic import ValidationError
from usage import METER

# Errors of SendTask* meaning the task no longer waits: it completed, timed out, or is unknown.
TASK_CLOSED_ERRORS = frozenset({"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"})


def client(service: str, attempts: int = 5, **timeouts: int) -> Any:
    """A client whose "standard" retries absorb throttling (TooManyRequestsException) with backoff
    and jitter, and whose requests count in the invocation's usage (usage.py)."""
    made = boto3.client(
        service, config=Config(retries={"mode": "standard", "total_max_attempts": attempts}, **timeouts)
    )
    made.meta.events.register("before-parameter-build", METER.count)
    return made


def job_name(run_id: str, first: int) -> str:
    """The job of the batch whose first entry is FIRST (a name must start with a letter or digit)."""
    return f"run-{run_id}-b{first}"


def is_job_of(run_id: str, name: str) -> bool:
    return re.fullmatch(rf"run-{re.escape(run_id)}-(b\d+|array-[0-9a-f-]{{36}})", name) is not None


def redact(token: str) -> str:
    """A task token is a bearer credential: log only its last characters."""
    return f"...{token[-8:]}"


def validation_problems(error: ValidationError, place: str = "") -> list[str]:
    """Each field a model refused, with its place: `entries[3].name: String should match ...`."""
    prefix = f"{place}." if place else ""
    return [f"{prefix}{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()]
