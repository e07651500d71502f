"""A run's Batch jobs: how they are named, and stopping those that are unfinished.

A batch's job is `run-<run>-b<first entry>`, the full path's array job `run-<run>-array-<uuid>`
(statemachines/orchestrator.asl.json). Batch's ListJobs filters names by prefix only, and a run's
name may itself start with another run's name and a dash (`nightly`, `nightly-2`): a job is the
run's only when the whole name matches.
"""

import re
from typing import Any

UNFINISHED = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING")


def job_name(run_id: str, first: int) -> str:
    """The job of the batch whose first entry is FIRST (a name must start with a letter or digit)."""
    return f"run-{run_id}-b{first}"


def is_job_of(run_id: str, name: str) -> bool:
    return re.fullmatch(rf"run-{re.escape(run_id)}-(b\d+|array-[0-9a-f-]{{36}})", name) is not None


def stop_unfinished(
    batch: Any, queue: str, run_id: str, reason: str, reported: frozenset[int] = frozenset()
) -> list[str]:
    """Terminate the run's jobs still queued or running, but those of the batches (by first entry)
    in REPORTED: they have called back and may still be exiting. Their ids."""
    pages = batch.get_paginator("list_jobs").paginate(
        jobQueue=queue, filters=[{"name": "JOB_NAME", "values": [f"run-{run_id}-*"]}]
    )
    stopped = []
    for job in (job for page in pages for job in page["jobSummaryList"]):
        if (
            job["status"] in UNFINISHED
            and is_job_of(run_id, job["jobName"])
            and not reported_job(job["jobName"], reported)
        ):
            batch.terminate_job(jobId=job["jobId"], reason=reason[:255])
            stopped.append(job["jobId"])
    return stopped


def reported_job(name: str, reported: frozenset[int]) -> bool:
    first = name.rsplit("-b", 1)[-1]
    return first.isdigit() and int(first) in reported
