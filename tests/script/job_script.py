"""Running the batch script as a Batch job runs it: its command line, environment, shells, plan and report."""

import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.handlers import load_handler
from tests.support.paths import BATCH_SCRIPT, FUNCTIONS

SHELLS = {"dash": ["dash"], "busybox": ["busybox", "sh"]}


# Whole-second margins around the script's heartbeat interval: this proves heartbeats flow,
# it is not a timing measurement.
HEARTBEAT_SECONDS = 8


TOKEN_TABLE = "task-tokens"


RUNS_BUCKET = "runs"
RUNS_CODE = FUNCTIONS / "runs"
batch_plan = load_handler(RUNS_CODE, "batch_plan")
batch_report = load_handler(RUNS_CODE, "batch_report")


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


def run(command: list[str], env: dict[str, str], timeout: float = 60, **popen: Any) -> Run:
    process = subprocess.run(
        command, env=env, capture_output=True, text=True, errors="replace", timeout=timeout, **popen
    )
    return Run(process.returncode, process.stdout, process.stderr)


def script_command(shell: list[str], reference: str, report: str, sleep: int = 0, heartbeat: int = 0) -> list[str]:
    return [*shell, str(BATCH_SCRIPT), reference, report, str(sleep), str(heartbeat)]


def batch_items(*entries: dict[str, Any], first: int = 0) -> list[dict[str, Any]]:
    """A batch's entries as the submit function gets them: {index, name, entry}, in index order."""
    return [{"index": first + i, "name": entry["name"], "entry": entry} for i, entry in enumerate(entries)]


@dataclass
class Batch:
    """One batch's plan and where its job reports: what a test hands the script."""

    items: list[dict[str, Any]]
    command: str
    timeout: int = 0
    attempts: int = 1
    backoff: int = 0
    parallelism: int = 4
    max_files: int = 1000
    run_id: str = ""

    def __post_init__(self) -> None:
        self.run_id = self.run_id or f"run-{uuid.uuid4().hex[:12]}"

    @property
    def report_key(self) -> str:
        return f"runs/{self.run_id}/reports/000000000.bin"

    @property
    def outputs_prefix(self) -> str:
        return f"runs/{self.run_id}/outputs/"

    def plan(self) -> str:
        settings = {
            "command": self.command,
            "timeout": self.timeout,
            "attempts": self.attempts,
            "backoff": self.backoff,
            "parallelism": self.parallelism,
            "outputs": f"s3://{RUNS_BUCKET}/{self.outputs_prefix}",
            "run": self.run_id,
            "maxfiles": self.max_files,
        }
        return batch_plan.plan_text(settings, self.items)


def read_report(s3: Any, batch: Batch) -> dict[int, Any]:
    """The job's report of BATCH, each entry's record by its index."""
    body = s3.get_object(Bucket=RUNS_BUCKET, Key=batch.report_key)["Body"].read()
    return {record.index: record for record in batch_report.records(body)}


def outputs(s3: Any, batch: Batch) -> dict[str, bytes]:
    """The output files of BATCH's entries, by their key under the run's outputs/."""
    listed = s3.list_objects_v2(Bucket=RUNS_BUCKET, Prefix=batch.outputs_prefix).get("Contents", [])
    return {
        o["Key"][len(batch.outputs_prefix) :]: s3.get_object(Bucket=RUNS_BUCKET, Key=o["Key"])["Body"].read()
        for o in listed
    }


def has_object(s3: Any, key: str) -> bool:
    return s3.list_objects_v2(Bucket=RUNS_BUCKET, Prefix=key).get("KeyCount", 0) > 0


@dataclass
class CommandLines:
    """Wrappers first on a job's PATH: `aws` records its command line, then runs the real program;
    `jq` and `python3` record theirs and fail, as in an image that has neither."""

    bin: Path
    log: Path

    def environment(self, env: dict[str, str]) -> dict[str, str]:
        return {**env, "PATH": f"{self.bin}:{env['PATH']}"}

    def text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def of(self, program: str) -> list[str]:
        return [line for line in self.text().splitlines() if line.split(" ", 1)[0] == program]
