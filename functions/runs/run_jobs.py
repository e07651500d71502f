"""A run's Batch jobs (named as shared.job_name names them), and stopping the unfinished ones."""

from typing import Any

from shared import is_job_of

UNFINISHED = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING")


def jobs_of(batch: Any, queue: str, run_id: str) -> list[dict[str, Any]]:
    """The summaries of every job of the run, in any status."""
    pages = batch.get_paginator("list_jobs").paginate(
        jobQueue=queue, filters=[{"name": "JOB_NAME", "values": [f"run-{run_id}-*"]}]
    )
    return [job for page in pages for job in page["jobSummaryList"] if is_job_of(run_id, job["jobName"])]


def stop_unfinished(
    batch: Any, jobs: list[dict[str, Any]], reason: str, reported: frozenset[int] = frozenset()
) -> list[str]:
    """Terminate the JOBS still queued or running, but those of the batches (by first entry) in
    REPORTED: they have called back and may still be exiting. Their ids."""
    stopped = []
    for job in jobs:
        if job["status"] in UNFINISHED and not reported_job(job["jobName"], reported):
            batch.terminate_job(jobId=job["jobId"], reason=reason[:255])
            stopped.append(job["jobId"])
    return stopped


def reported_job(name: str, reported: frozenset[int]) -> bool:
    first = name.rsplit("-b", 1)[-1]
    return first.isdigit() and int(first) in reported
