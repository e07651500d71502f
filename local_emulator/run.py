"""`run`: start the orchestrator with a payload, show progress, report every entry, keep a record."""

import json
import re
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
TOKEN_FIELD = re.compile(r'("(?:taskToken|TaskToken|token)\\?"\s*:\s*\\?")([^"\\]{9,})(\\?")')


def redact_tokens(text: str) -> str:
    """Task tokens are credentials: a record keeps only their last 8 characters."""
    return TOKEN_FIELD.sub(lambda m: f"{m.group(1)}...{m.group(2)[-8:]}{m.group(3)}", text)


@dataclass
class EntryResult:
    index: int
    name: str
    status: str
    child_execution_arn: str
    job_id: str = ""
    attempts: int = 0
    duration_seconds: float | None = None
    error: str = ""
    cause: str = ""


@dataclass
class RunResult:
    execution_arn: str
    status: str
    entries: list[EntryResult] = field(default_factory=list)
    error: str = ""
    cause: str = ""
    record_dir: Path | None = None
    wall_seconds: float = 0.0

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
    def __init__(self, endpoint_url: str, stack: Stack, out: TextIO = sys.stdout) -> None:
        self.stack, self.out = stack, out
        self.sfn = boto3.client("stepfunctions", endpoint_url=endpoint_url)
        self.batch = boto3.client("batch", endpoint_url=endpoint_url)
        self.logs = boto3.client("logs", endpoint_url=endpoint_url)

    def start(self, payload: dict[str, Any], name: str | None = None) -> str:
        name = name or f"local-{datetime.now(UTC):%Y%m%dT%H%M%S%f}"
        return self.sfn.start_execution(
            stateMachineArn=self.stack.outputs["OrchestratorStateMachineArn"], name=name, input=json.dumps(payload)
        )["executionArn"]

    def wait(self, execution_arn: str, total: int, timeout_seconds: float, progress: bool = True) -> dict[str, Any]:
        started = time.monotonic()
        bar = Progress(self.out)
        try:
            while True:
                description = self.sfn.describe_execution(executionArn=execution_arn)
                elapsed = time.monotonic() - started
                if progress:
                    bar.show(elapsed, self.progress_counts(total))
                if description["status"] != "RUNNING":
                    return description
                if elapsed > timeout_seconds:
                    self.sfn.stop_execution(
                        executionArn=execution_arn, error="Local.Timeout", cause=f"run exceeded {timeout_seconds:.0f} s"
                    )
                time.sleep(0.5)
        finally:
            bar.done()

    def progress_counts(self, total: int) -> str:
        children = Counter(
            e["status"]
            for page in self.sfn.get_paginator("list_executions").paginate(
                stateMachineArn=self.stack.outputs["SyncNestedStateMachineArn"]
            )
            for e in page["executions"]
        )
        jobs = self.job_counts()
        finished = sum(n for status, n in children.items() if status != "RUNNING")
        child_text = ", ".join(f"{n} {s.lower()}" for s, n in sorted(children.items())) or "none yet"
        job_text = ", ".join(f"{jobs[s]} {s.lower()}" for s in JOB_STATUSES if jobs.get(s)) or "none yet"
        return f"entries {finished}/{total} done | children: {child_text} | jobs: {job_text}"

    def job_counts(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        queue = self.stack.outputs["JobQueueArn"]
        for status in JOB_STATUSES:
            for page in self.batch.get_paginator("list_jobs").paginate(jobQueue=queue, jobStatus=status):
                counts[status] += len(page["jobSummaryList"])
        return counts

    def result(self, description: dict[str, Any], wall_seconds: float) -> RunResult:
        result = RunResult(
            description["executionArn"],
            description["status"],
            error=description.get("error", ""),
            cause=description.get("cause", ""),
            wall_seconds=wall_seconds,
        )
        output = self.account(description)
        for item in output.get("entries", []):
            child = (
                self.sfn.describe_execution(executionArn=item["childExecutionArn"])
                if item.get("childExecutionArn")
                else {}
            )
            duration = None
            if child.get("stopDate") and child.get("startDate"):
                duration = (child["stopDate"] - child["startDate"]).total_seconds()
            result.entries.append(
                EntryResult(
                    index=item["index"],
                    name=str(item.get("name", "")),
                    status=item["status"],
                    child_execution_arn=item.get("childExecutionArn", ""),
                    job_id=item.get("jobId", ""),
                    attempts=item.get("attempts", 0),
                    duration_seconds=duration,
                    error=child.get("error") or item.get("error", ""),
                    cause=child.get("cause") or item.get("cause", ""),
                )
            )
        return result

    def account(self, description: dict[str, Any]) -> dict[str, Any]:
        """The parent's account of its entries: its output, or, when it failed past the
        tolerated failures, the output of its Report state."""
        if description.get("output"):
            return json.loads(description["output"])
        arn = description["executionArn"]
        for page in self.sfn.get_paginator("get_execution_history").paginate(executionArn=arn, reverseOrder=True):
            for event in page["events"]:
                details = event.get("stateExitedEventDetails", {})
                if details.get("name") == "Report":
                    return json.loads(details["output"])
        return {}

    # -- the run's record ------------------------------------------------------------------
    def write_record(self, result: RunResult, folder: Path, lambda_journal: Any) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        write = lambda name, data: (folder / name).write_text(redact_tokens(json.dumps(data, indent=2, default=str)))  # noqa: E731
        write("stack-outputs.json", self.stack.outputs)
        write(
            "entries.json",
            {
                "execution": result.execution_arn,
                "status": result.status,
                "entries": [e.__dict__ for e in result.entries],
            },
        )
        executions = folder / "executions"
        executions.mkdir(exist_ok=True)
        for key in ("OrchestratorStateMachineArn", "SyncNestedStateMachineArn", "CallbackNotifyStateMachineArn"):
            paginator = self.sfn.get_paginator("list_executions")
            for page in paginator.paginate(stateMachineArn=self.stack.outputs[key]):
                for item in page["executions"]:
                    arn = item["executionArn"]
                    history = [
                        e
                        for p in self.sfn.get_paginator("get_execution_history").paginate(executionArn=arn)
                        for e in p["events"]
                    ]
                    write(
                        f"executions/{arn.rsplit(':', 2)[-2]}.{arn.rsplit(':', 1)[-1]}.json",
                        {"execution": self.sfn.describe_execution(executionArn=arn), "history": history},
                    )
        jobs = folder / "jobs"
        jobs.mkdir(exist_ok=True)
        log_group = self.stack.outputs["JobLogGroupName"]
        for job in self.all_jobs():
            write(f"jobs/{job['jobId'].replace(':', '-')}.json", job)
            stream = job.get("container", {}).get("logStreamName")
            if stream:
                try:
                    events = self.logs.get_log_events(logGroupName=log_group, logStreamName=stream)["events"]
                    text = "".join(e["message"] + "\n" for e in events)
                except self.logs.exceptions.ResourceNotFoundException:  # a job's log is published as it ends
                    text = f"(no log yet: the job was {job['status']} when this record was written)\n"
                (jobs / f"{job['jobId'].replace(':', '-')}.log").write_text(redact_tokens(text))
        functions = folder / "functions"
        functions.mkdir(exist_ok=True)
        by_function: dict[str, list[str]] = {}
        for invocation in lambda_journal.invocations:
            by_function.setdefault(invocation.function_name, []).append(invocation.logs)
        for name, logs in by_function.items():
            (functions / f"{name}.log").write_text(redact_tokens("".join(logs)))
        result.record_dir = folder

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


def print_table(result: RunResult, out: TextIO = sys.stdout) -> None:
    rows = [("#", "entry", "status", "child execution", "job id", "attempts", "seconds", "error / cause")]
    for e in result.entries:
        seconds = f"{e.duration_seconds:.1f}" if e.duration_seconds is not None else "-"
        problem = f"{e.error}: {e.cause}" if e.error else ""
        child = e.child_execution_arn.rsplit(":", 1)[-1]
        rows.append((str(e.index), e.name, e.status, child, e.job_id, str(e.attempts), seconds, problem))
    widths = [min(max(len(row[i]) for row in rows), 40) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell[:w].ljust(w) for cell, w in zip(row[:-1], widths, strict=False)]
        out.write("  ".join(cells) + "  " + _one_line(row[-1])[:160] + "\n")
    counts = Counter(e.status for e in result.entries)
    summary = ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items()))
    entries = f"{len(result.entries)} entries ({summary or 'none'})"
    out.write(f"\nParent execution {result.status} in {result.wall_seconds:.1f} s: {entries}\n")
    if result.error:
        out.write(f"Parent error: {result.error}: {_one_line(result.cause)[:500]}\n")


def _one_line(text: str) -> str:
    return " ".join(text.split())
