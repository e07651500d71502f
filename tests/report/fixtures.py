"""Runs for the report's tests: result lines as the job writes them, and RunData made from them as
collect makes it (the same aggregation)."""

from datetime import UTC, datetime, timedelta
from typing import Any

from run_report.collect import apply_results, fill_counts
from run_report.model import Batch, RunData
from run_report.results import ResultsAggregate

T0 = datetime(2026, 12, 7, 21, 0, 0, tzinfo=UTC)
REGION_ACCOUNT = "us-east-1:123456789012"
HOSTILE_NAME = '<script>alert("name")</script><img src=x onerror=alert(1)>'
HOSTILE_CAUSE = '</script><script>alert("cause")</script> <b>not bold</b> & "quoted"'
HOSTILE_ERROR = "Job.<i>Failed</i>"
NOT_RUN_CAUSE = "the run stopped before this entry's batch ran"
COST = {
    "currency": "USD",
    "total": 0.01234,
    "parts": {"stepFunctions": 0.0011, "lambda": 0.0004, "fargate": 0.0101, "s3": 0.0003, "dynamodb": 0.00044},
    "usage": {"stateTransitions": 44, "lambdaGbSeconds": 3.2, "fargateVcpuSeconds": 540},
    "prices": {"stateTransition": 0.000025, "fargateVcpuHour": 0.04048},
}
DURATIONS = {
    "entries": {"count": 50, "median": 3.0, "p95": 9.5, "max": 10.0},
    "batches": {"count": 5, "median": 31.0, "p95": 40.0, "max": 41.0},
}


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def result_line(index: int, status: str = "SUCCEEDED", timed: bool = True, **more: Any) -> dict[str, Any]:
    """An entry's result; timed ones finish one every 0.7 s, taking 1 to 11 s."""
    record: dict[str, Any] = {"index": index, "name": f"entry-{index}", "status": status}
    if status != "SUCCEEDED":
        record |= {"error": "Job.SimulatedFailure", "cause": f"entry {index} asked to fail"}
    if status != "NOT_RUN":
        record |= {"jobId": f"job-{index // 10}", "attempt": 1}
        if timed:
            seconds = 1 + (index * 37) % 11
            started = T0 + timedelta(seconds=index * 0.7)
            ended = started + timedelta(seconds=seconds)
            record |= {"attempts": 1, "seconds": float(seconds), "startedAt": iso(started), "endedAt": iso(ended)}
    return record | more


def lines_of(count: int, failed: set[int] = frozenset(), not_run: set[int] = frozenset(), timed: bool = True):
    return [
        result_line(i, "FAILED" if i in failed else "NOT_RUN" if i in not_run else "SUCCEEDED", timed)
        for i in range(count)
    ]


def hostile_lines() -> list[dict[str, Any]]:
    lines = lines_of(30, failed={3, 4})
    lines[7] |= {"name": HOSTILE_NAME, "seconds": 99.0}  # the slowest: shown in the table
    lines[3] |= {"name": HOSTILE_NAME, "cause": HOSTILE_CAUSE, "error": HOSTILE_ERROR}
    return lines


def batches(count: int, size: int = 10, failed: set[int] = frozenset()) -> list[Batch]:
    found = []
    for number in range(count):
        start = T0 + timedelta(seconds=number * 4 - 2)
        status = "FAILED" if number in failed else "SUCCEEDED"
        found.append(
            Batch(
                first=number * size,
                last=number * size + size - 1,
                status=status,
                child_arn=f"arn:aws:states:{REGION_ACCOUNT}:execution:s-orchestrator/Run:b{number}",
                child_status=status,
                child_started=start,
                child_stopped=start + timedelta(seconds=30 + number),
                job_id=f"job-{number}",
                job_status=status,
                job_created=start + timedelta(seconds=1),
                job_started=start + timedelta(seconds=3),
                job_stopped=start + timedelta(seconds=28 + number),
            )
        )
    return found


def run_data(
    lines: list[dict[str, Any]],
    status: str = "SUCCEEDED",
    summary: dict[str, Any] | None = None,
    batch_list: list[Batch] | None = None,
    run_id: str = "run-1",
) -> RunData:
    """A run whose results are LINES; SUMMARY defaults to the ended run's, with cost and durations
    (pass {} for a run without summary.json)."""
    aggregate = ResultsAggregate()
    for line in lines:
        aggregate.add(line)
    if summary is None:
        summary = {
            "runId": run_id,
            "status": status,
            "total": len(lines),
            "succeeded": aggregate.by_status["SUCCEEDED"],
            "failed": aggregate.by_status["FAILED"],
            "notRun": aggregate.by_status["NOT_RUN"],
            "results": f"s3://bucket/runs/{run_id}/results/",
            "summary": f"s3://bucket/runs/{run_id}/summary.json",
            "durations": DURATIONS,
            "cost": COST,
        }
    data = RunData(
        run_id=run_id,
        execution_arn=f"arn:aws:states:{REGION_ACCOUNT}:execution:s-orchestrator:{run_id}",
        status=status,
        started_at=T0 - timedelta(seconds=5),
        stopped_at=None if status == "RUNNING" else T0 + timedelta(seconds=60),
        generated_at=T0 + timedelta(seconds=70),
        summary=summary,
        batches=batch_list if batch_list is not None else batches(max(1, len(lines) // 10)),
        results_uri=f"s3://bucket/runs/{run_id}/results/",
        summary_uri=f"s3://bucket/runs/{run_id}/summary.json",
    )
    apply_results(data, aggregate)
    fill_counts(data, {"total": len(lines)}, aggregate)
    return data


def showcase_run() -> RunData:
    """A failed run with every section filled: 20 batches of 10, one batch's entries failed, a few
    other errors, the last batch never ran, a hostile name among the slowest."""
    lines = lines_of(200, failed=set(range(30, 40)) | {77, 151}, not_run=set(range(190, 200)))
    lines[77] |= {"error": "Job.Terminated", "cause": "Essential container in task exited (OutOfMemoryError)"}
    lines[151] |= {"error": HOSTILE_ERROR, "cause": HOSTILE_CAUSE}
    lines[42] |= {"name": HOSTILE_NAME, "seconds": 42.5}
    batch_list = batches(19, failed={3, 7, 15})
    return run_data(lines, status="FAILED", batch_list=batch_list, run_id="nightly-20261207")
