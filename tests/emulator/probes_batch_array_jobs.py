"""Probes of the patches of Batch's array jobs (local_emulator/patches/batch_array_jobs.py)."""

from tests.emulator.patch_probes import Aws, job_definition, job_queue, probe, unique

STATUSES = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")


@probe("queue_listings_leave_array_children_out")
def a_queue_lists_its_array_job_once_and_the_array_job_its_children(aws: Aws) -> bool:
    batch = aws.client("batch")
    queue = job_queue(aws)
    parent = batch.submit_job(
        jobName=unique("array"),
        jobQueue=queue,
        jobDefinition=job_definition(aws, ["true"]),
        arrayProperties={"size": 2},
    )["jobId"]

    def listed(**where: str) -> set[str]:
        return {j["jobId"] for s in STATUSES for j in batch.list_jobs(jobStatus=s, **where)["jobSummaryList"]}

    return listed(jobQueue=queue) == {parent} and listed(arrayJobId=parent) == {f"{parent}:0", f"{parent}:1"}
