"""AWS Batch array jobs as ListJobs shows them. (Batch's other patches are in batch.py.)"""

from typing import Any

from local_emulator.patches.registry import Patcher, patch

MOTO = "5.2.5"


@patch(
    service="batch",
    defect="ListJobs of a job queue lists the children of its array jobs with the jobs themselves (a child "
    "job's summary, `<array job id>:<index>`, for each index): a caller that acts on each job listed (terminates "
    "a run's jobs, counts them) acts on every child besides its array job",
    aws="ListJobs lists the jobs of a queue (an array job once), or, given arrayJobId, the children of that array job",
    reference="https://docs.aws.amazon.com/batch/latest/APIReference/API_ListJobs.html",
    seen_in=MOTO,
)
def queue_listings_leave_array_children_out(patcher: Patcher, emulator: Any) -> None:
    from moto.batch.models import BatchBackend

    list_jobs = BatchBackend.list_jobs

    def listed(backend: BatchBackend, job_queue_name: str | None, array_job_id: str | None, *args: Any, **kwargs: Any):
        jobs = list_jobs(backend, job_queue_name, array_job_id, *args, **kwargs)
        if array_job_id:
            return jobs
        return [job for job in jobs if "index" not in (job.array_properties or {})]

    patcher.replace(BatchBackend, "list_jobs", listed)
