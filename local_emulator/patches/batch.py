"""AWS Batch: jobs run as host processes instead of Docker containers, and moto's job records as AWS keeps them."""

import logging
from datetime import datetime
from typing import Any

from local_emulator.patches.registry import Patcher, patch

LOG = logging.getLogger(__name__)
MOTO = "5.2.5"
JOB_DETAIL = "https://docs.aws.amazon.com/batch/latest/APIReference/API_JobDetail.html"


@patch(
    service="batch",
    defect="jobs run in Docker containers (Job.run), and no Docker engine runs here",
    aws="a job runs its job definition's command with its environment, is retried by its retry strategy, "
    "stopped by TerminateJob and its attempt duration, and bounded by its compute environment's vCPUs",
    reference="https://docs.aws.amazon.com/batch/latest/userguide/jobs.html",
    seen_in=MOTO,
)
def batch_jobs_run_as_host_processes(patcher: Patcher, emulator: Any) -> None:
    from moto.batch.models import Job

    runtime = emulator.batch

    def run(job: Job) -> None:
        try:
            runtime.run(job)
        except Exception as exc:  # a job must never stay RUNNING because the emulator failed
            LOG.exception("job %s could not run", job.job_id)
            job.job_stopped_reason = f"emulator error: {exc}"
            job._mark_stopped(success=False)
            runtime.on_change(job)

    patcher.replace(Job, "run", run)


@patch(
    service="batch",
    defect="each DescribeJobs appends the job's environment again (Job._get_container_property mutates the "
    "overrides in place), so variables are listed many times",
    aws="container.environment lists each variable once: the job definition's, overridden by the job's",
    reference=JOB_DETAIL,
    seen_in=MOTO,
)
def batch_job_environment_is_listed_once(patcher: Patcher, emulator: Any) -> None:
    from moto.batch.models import Job

    plain_property = Job._get_container_property

    def container_property(job: Job, name: str, default: Any) -> Any:
        if name != "environment":
            return plain_property(job, name, default)
        merged = {e["name"]: e["value"] for e in job.job_definition.container_properties.get("environment", [])}
        merged.update({e["name"]: e["value"] for e in job.container_overrides.get("environment", [])})
        merged["AWS_BATCH_JOB_ID"] = job.job_id
        return [{"name": k, "value": v} for k, v in merged.items()]

    patcher.replace(Job, "_get_container_property", container_property)


@patch(
    service="batch",
    defect="DescribeJobs omits container.exitCode and container.reason of a stopped job",
    aws="a stopped job's container shows its exit code and the reason it stopped",
    reference=JOB_DETAIL,
    seen_in=MOTO,
)
def describe_jobs_reports_exit_code_and_reason(patcher: Patcher, emulator: Any) -> None:
    from moto.batch.models import Job

    describe = Job.describe

    def described(job: Job) -> dict[str, Any]:
        result = describe(job)
        container = result.get("container")
        if container is not None and job.job_stopped:
            container["exitCode"] = job.exit_code
            if job.job_stopped_reason:
                container["reason"] = job.job_stopped_reason
        return result

    patcher.replace(Job, "describe", described)


@patch(
    service="batch",
    defect="an array job whose children all stopped, some FAILED, never leaves its status (only all-SUCCEEDED "
    "is handled)",
    aws="an array job is FAILED once every child stopped and at least one failed",
    reference="https://docs.aws.amazon.com/batch/latest/userguide/array_jobs.html",
    seen_in=MOTO,
)
def array_job_fails_when_a_child_failed(patcher: Patcher, emulator: Any) -> None:
    from moto.batch.models import Job

    describe = Job.describe

    def described(job: Job) -> dict[str, Any]:
        result = describe(job)
        children = job._child_jobs or []
        if children and all(child.job_stopped for child in children) and result["status"] != "SUCCEEDED":
            job.status = "FAILED"
            job.job_stopped, job.job_stopped_at = True, datetime.now()
            result["status"] = "FAILED"
            result["statusReason"] = "Array job failed: at least one child job failed"
        return result

    patcher.replace(Job, "describe", described)
