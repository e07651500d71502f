"""Running the batch script as a Batch job runs it: its command line, environment, shells and results."""

import json
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.paths import BATCH_SCRIPT

SHELLS = {"dash": ["dash"], "busybox": ["busybox", "sh"]}


# Whole-second margins around the script's heartbeat interval: this proves heartbeats flow,
# it is not a timing measurement.
HEARTBEAT_SECONDS = 8


TOKEN_TABLE = "task-tokens"


RUNS_BUCKET = "runs"


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


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
