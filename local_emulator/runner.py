"""Runs a request as a user would, against the emulator or a real stack: start the orchestrator with a
payload, show progress, and read every entry's result from the run's results in S3.

`OrchestratorRun.for_stack(name)` reads a deployed stack's outputs from CloudFormation (with no
endpoint, the AWS SDK's own configuration decides where); the emulator passes its endpoint and the
stack it deployed. The local record of a run is run_record.py's.

    python -m local_emulator.runner --stack NAME PAYLOAD   # a run on a deployed stack, with the AWS
                                                            # SDK's own configuration (profile, region)
"""

import argparse
import json
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import boto3

from local_emulator.deploy import Stack

JOB_STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")


@dataclass
class EntryResult:
    """One line of the run's results in S3."""

    index: int
    name: str
    status: str
    job_id: str = ""
    attempt: int = 0
    error: str = ""
    cause: str = ""
    attempts: int = 0
    seconds: float | None = None
    output: Any = None
    outputs: str = ""


@dataclass
class RunResult:
    execution_arn: str
    status: str
    report: dict[str, Any] = field(default_factory=dict)
    entries: list[EntryResult] = field(default_factory=list)
    error: str = ""
    cause: str = ""
    record_dir: Path | None = None
    wall_seconds: float = 0.0

    @property
    def run_id(self) -> str:
        return self.execution_arn.rsplit(":", 1)[-1]

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED" and all(e.status == "SUCCEEDED" for e in self.entries)


class Progress:
    """One updating line on a terminal; otherwise (CI logs, pipes) a line when the counts change,
    and at least every 10 seconds."""

    def __init__(self, out: TextIO) -> None:
        self.out, self.tty, self.last, self.last_time = out, out.isatty(), "", 0.0

    def show(self, elapsed: float, counts: str) -> None:
        line = f"[{elapsed:6.1f}s] {counts}"
        if self.tty:
            self.out.write("\r\033[K" + line)
        elif counts != self.last or elapsed - self.last_time >= 10:
            self.out.write(line + "\n")
            self.last, self.last_time = counts, elapsed
        self.out.flush()

    def done(self) -> None:
        if self.tty:
            self.out.write("\n")


class OrchestratorRun:
    """Starts a run, shows its progress, and reads its outcome as a user would: the parent's
    output (or the run's summary in S3 when it failed) and every entry's result from S3."""

    def __init__(
        self, endpoint_url: str | None, stack: Stack, out: TextIO = sys.stdout, poll_seconds: float = 0.5
    ) -> None:
        self.stack, self.out, self.poll_seconds = stack, out, poll_seconds
        self.sfn = boto3.client("stepfunctions", endpoint_url=endpoint_url)
        self.batch = boto3.client("batch", endpoint_url=endpoint_url)
        self.logs = boto3.client("logs", endpoint_url=endpoint_url)
        self.s3 = boto3.client("s3", endpoint_url=endpoint_url)
        self.dynamodb = boto3.client("dynamodb", endpoint_url=endpoint_url)

    @classmethod
    def for_stack(cls, stack_name: str, endpoint_url: str | None = None, out: TextIO = sys.stdout) -> "OrchestratorRun":
        """The runner of a deployed stack, from its CloudFormation outputs."""
        [described] = boto3.client("cloudformation", endpoint_url=endpoint_url).describe_stacks(StackName=stack_name)[
            "Stacks"
        ]
        outputs = described.get("Outputs", [])
        stack = Stack(
            name=stack_name,
            parameters={p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters", [])},
            outputs={o["OutputKey"]: o["OutputValue"] for o in outputs},
            descriptions={o["OutputKey"]: o.get("Description", "") for o in outputs},
        )
        # A real account's ListJobs and DescribeExecution quotas are a few calls a second.
        return cls(endpoint_url, stack, out, poll_seconds=5.0)

    @property
    def bucket(self) -> str:
        return self.stack.outputs["RunsBucketName"]

    def start(self, payload: dict[str, Any], name: str | None = None) -> str:
        name = name or f"local-{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
        return self.sfn.start_execution(
            stateMachineArn=self.stack.outputs["OrchestratorStateMachineArn"], name=name, input=json.dumps(payload)
        )["executionArn"]

    def wait(
        self, execution_arn: str, timeout_seconds: float | None, progress: bool = True, stop_on_timeout: bool = True
    ) -> dict[str, Any]:
        """The execution's description once it has ended; past TIMEOUT_SECONDS, the run is stopped
        (the emulator's runs), or left running and described as it is (a real stack's)."""
        started = time.monotonic()
        bar = Progress(self.out)
        stopping = False
        try:
            while True:
                description = self.sfn.describe_execution(executionArn=execution_arn)
                elapsed = time.monotonic() - started
                if progress:
                    bar.show(elapsed, self.progress_counts(execution_arn))
                if description["status"] != "RUNNING":
                    return description
                if timeout_seconds is not None and elapsed > timeout_seconds:
                    if not stop_on_timeout:
                        return description
                    if not stopping:
                        self.sfn.stop_execution(
                            executionArn=execution_arn,
                            error="Local.Timeout",
                            cause=f"run exceeded {timeout_seconds:.0f} s",
                        )
                        stopping = True
                time.sleep(self.poll_seconds)
        finally:
            bar.done()

    def progress_counts(self, execution_arn: str) -> str:
        """What an operator watches: the run's counters (audit table), its Map Run's batches, the jobs."""
        run = self.dynamodb.get_item(
            TableName=self.stack.outputs["AuditTableName"],
            Key={"runId": {"S": execution_arn.rsplit(":", 1)[-1]}, "entryIndex": {"N": "-1"}},
        ).get("Item")
        if run is None:
            return "preparing the run"
        done = int(run["succeeded"]["N"]) + int(run["failed"]["N"])
        text = f"entries {done}/{run['total']['N']} done ({run['failed']['N']} failed)"
        map_runs = self.sfn.list_map_runs(executionArn=execution_arn)["mapRuns"]
        if map_runs:
            counts = self.sfn.describe_map_run(mapRunArn=map_runs[0]["mapRunArn"])["executionCounts"]
            text += (
                f" | batches: {counts['succeeded']} succeeded, {counts['failed']} failed, {counts['running']} running"
            )
            text += f", {counts['pending']} pending"
        jobs = self.job_counts(execution_arn)
        job_text = ", ".join(f"{jobs[s]} {s.lower()}" for s in JOB_STATUSES if jobs.get(s)) or "none yet"
        return f"{text} | jobs: {job_text}"

    def job_counts(self, execution_arn: str) -> Counter[str]:
        """The run's jobs by status, from one listing: with a name filter, ListJobs returns every
        status, and leaves out the queue's other runs (a real queue keeps days of them)."""
        pages = self.batch.get_paginator("list_jobs").paginate(
            jobQueue=self.stack.outputs["JobQueueArn"],
            filters=[{"name": "JOB_NAME", "values": [f"run-{execution_arn.rsplit(':', 1)[-1]}-*"]}],
        )
        return Counter(job["status"] for page in pages for job in page["jobSummaryList"])

    def result(self, description: dict[str, Any], wall_seconds: float) -> RunResult:
        result = RunResult(
            description["executionArn"],
            description["status"],
            error=description.get("error", ""),
            cause=description.get("cause", ""),
            wall_seconds=wall_seconds,
        )
        result.report = self.report(description)
        result.entries = self.results(result.run_id) if result.report else []
        return result

    def report(self, description: dict[str, Any]) -> dict[str, Any]:
        """The run's report: the parent's output, or the summary it left in S3 when it failed."""
        if description.get("output"):
            return json.loads(description["output"])
        key = f"runs/{description['executionArn'].rsplit(':', 1)[-1]}/summary.json"
        try:
            return json.loads(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except self.s3.exceptions.NoSuchKey:
            return {}  # refused before it began, or stopped before it ended

    def results(self, run_id: str) -> list[EntryResult]:
        """Every entry's result, in index order, as the run's results objects hold them."""
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=f"runs/{run_id}/results/")
        entries = []
        for key in sorted(o["Key"] for page in pages for o in page.get("Contents", [])):
            for line in self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].iter_lines():
                item = json.loads(line)
                entries.append(
                    EntryResult(
                        index=item["index"],
                        name=item["name"],
                        status=item["status"],
                        job_id=item.get("jobId") or "",
                        attempt=item.get("attempt", 0),
                        error=item.get("error", ""),
                        cause=item.get("cause", ""),
                        attempts=item.get("attempts", 0),
                        seconds=item.get("seconds"),
                        output=item.get("output"),
                        outputs=item.get("outputs", ""),
                    )
                )
        return sorted(entries, key=lambda e: e.index)

    def executions_of(self, execution_arn: str) -> list[str]:
        """The run's executions: the parent, its batches (the Map Run's children), their nested ones."""
        found = [execution_arn]
        for map_run in self.sfn.list_map_runs(executionArn=execution_arn)["mapRuns"]:
            for page in self.sfn.get_paginator("list_executions").paginate(mapRunArn=map_run["mapRunArn"]):
                found.extend(e["executionArn"] for e in page["executions"])
        return found

    def all_jobs(self) -> list[dict[str, Any]]:
        queue = self.stack.outputs["JobQueueArn"]
        ids = [
            job["jobId"]
            for status in JOB_STATUSES
            for page in self.batch.get_paginator("list_jobs").paginate(jobQueue=queue, jobStatus=status)
            for job in page["jobSummaryList"]
        ]
        children = [
            child["jobId"]
            for parent in ids
            for status in JOB_STATUSES
            for child in self.batch.list_jobs(arrayJobId=parent, jobStatus=status).get("jobSummaryList", [])
        ]
        found = []
        every = ids + children
        for start in range(0, len(every), 100):
            found.extend(self.batch.describe_jobs(jobs=every[start : start + 100])["jobs"])
        return found


def print_table(result: RunResult, out: TextIO = sys.stdout, rows_shown: int = 50) -> None:
    """Every entry when there are few; otherwise the ones that did not succeed (up to ROWS_SHOWN)."""
    shown = (
        result.entries if len(result.entries) <= rows_shown else [e for e in result.entries if e.status != "SUCCEEDED"]
    )
    rows = [("#", "entry", "status", "job id", "attempt", "output, or error: cause")]
    for e in shown[:rows_shown]:
        said = f"{e.error}: {e.cause}" if e.error else json.dumps(e.output) if e.output is not None else ""
        rows.append((str(e.index), e.name, e.status, e.job_id, str(e.attempt), said))
    widths = [min(max(len(row[i]) for row in rows), 40) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell[:w].ljust(w) for cell, w in zip(row[:-1], widths, strict=False)]
        out.write("  ".join(cells) + "  " + _one_line(row[-1])[:160] + "\n")
    if len(shown) > rows_shown or len(shown) < len(result.entries):
        out.write(f"({min(len(shown), rows_shown)} of {len(result.entries)} entries shown; all in results.jsonl)\n")
    counts = Counter(e.status for e in result.entries)
    summary = ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items()))
    entries = f"{len(result.entries)} entries ({summary or 'none'})"
    out.write(f"\nRun {result.run_id} {result.status} in {result.wall_seconds:.1f} s: {entries}\n")
    if result.report.get("results"):
        out.write(f"Results: {result.report['results']}  Summary: {result.report['summary']}\n")
    if any(e.outputs for e in result.entries):
        out.write(f"Output files: {result.report['results'].removesuffix('results/')}outputs/<entry index>/\n")
    if result.error:
        out.write(f"Error: {result.error}: {_one_line(result.cause)[:500]}\n")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local_emulator.runner",
        description="Run a request on a deployed stack: progress, then every entry's result. "
        "Exits 0 when every entry succeeded, 1 when one did not, 3 when the run was still going at --timeout.",
    )
    parser.add_argument("--stack", required=True, help="the deployed stack's name (sam deploy --stack-name)")
    parser.add_argument("--timeout", type=float, help="seconds to wait; the run goes on past them, unstopped")
    parser.add_argument("payload", type=Path, help="the orchestrator's input, as a JSON file")
    args = parser.parse_args(argv)
    payload = json.loads(args.payload.read_text())
    runner = OrchestratorRun.for_stack(args.stack)
    started = time.monotonic()
    execution_arn = runner.start(payload)
    print(f"Started {execution_arn}", flush=True)
    description = runner.wait(execution_arn, args.timeout, stop_on_timeout=False)
    if description["status"] == "RUNNING":
        print(f"Still running after {args.timeout:.0f} s: {execution_arn}")
        return 3
    result = runner.result(description, time.monotonic() - started)
    print()
    print_table(result)
    return 0 if result.succeeded else 1


if __name__ == "__main__":
    sys.exit(main())
