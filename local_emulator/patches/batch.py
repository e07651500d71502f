"""AWS Batch: jobs run as host processes instead of Docker containers, moto's job records as AWS keeps
them, and Batch's request rates enforced as AWS enforces them."""

import functools
import logging
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from local_emulator.patches.registry import Patcher, patch

LOG = logging.getLogger(__name__)
MOTO = "5.2.5"
JOB_DETAIL = "https://docs.aws.amazon.com/batch/latest/APIReference/API_JobDetail.html"
QUOTAS = "https://docs.aws.amazon.com/batch/latest/userguide/service_limits.html"
THROTTLING = "https://repost.aws/knowledge-center/aws-batch-requests-error"
# AWS gives Batch's request rates one figure, 50 requests a second for each account and Region, fixed:
# SubmitJob's quota (QUOTAS), and that of "AWS Batch API calls, including the SubmitJob operations"
# (THROTTLING, which says the quotas apply to every API, DescribeJobs and SubmitJob named). It documents
# no burst: each API's bucket holds one second of requests and refills at that rate.
REQUESTS_PER_SECOND = 50.0
THROTTLED = "TooManyRequestsException"
THROTTLED_MESSAGE = "Too Many Requests"


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
    def amend(job: Any, result: dict[str, Any]) -> None:
        container = result.get("container")
        if container is not None and job.job_stopped:
            container["exitCode"] = job.exit_code
            if job.job_stopped_reason:
                container["reason"] = job.job_stopped_reason

    amend_job_details(patcher, amend)


def amend_job_details(patcher: Patcher, amend: Callable[[Any, dict[str, Any]], None]) -> None:
    """A job's detail as DescribeJobs shows it (Job.describe), AMEND(job, detail) applied after moto's
    and the earlier patches'."""
    from moto.batch.models import Job

    describe = Job.describe

    def described(job: Job) -> dict[str, Any]:
        result = describe(job)
        amend(job, result)
        return result

    patcher.replace(Job, "describe", described)


@patch(
    service="batch",
    defect="DescribeJobs omits container.resourceRequirements (a Fargate job's vCPUs and memory)",
    aws="a job's container shows its resourceRequirements: the job definition's, each type overridden by the "
    "job's containerOverrides",
    reference=JOB_DETAIL,
    seen_in=MOTO,
)
def describe_jobs_shows_resource_requirements(patcher: Patcher, emulator: Any) -> None:
    def amend(job: Any, result: dict[str, Any]) -> None:
        container = result.get("container")
        if container is not None and job.job_definition.container_properties is not None:
            wanted = {r["type"]: r for r in job.job_definition.container_properties.get("resourceRequirements", [])}
            wanted |= {r["type"]: r for r in (job.container_overrides or {}).get("resourceRequirements", [])}
            if wanted:
                container["resourceRequirements"] = list(wanted.values())

    amend_job_details(patcher, amend)


DESCRIBE_JOBS_LIMIT = 100


@patch(
    service="batch",
    defect="DescribeJobs accepts any number of jobs, and walks every job the backend ever held to find those "
    "asked for (a call's cost grew with the jobs held: 12 times slower at 100,000, bench/state_growth.py)",
    aws="DescribeJobs takes up to 100 jobs; more: ClientException 'Maximum number of jobs supported is 100' "
    "(recorded on AWS: https://github.com/pegasus-isi/pegasus/issues/2086)",
    reference="https://docs.aws.amazon.com/batch/latest/APIReference/API_DescribeJobs.html",
    seen_in=MOTO,
)
def describe_jobs_takes_up_to_100_by_id(patcher: Patcher, emulator: Any) -> None:
    from moto.batch.exceptions import ClientException
    from moto.batch.models import BatchBackend

    def describe_jobs(self: BatchBackend, jobs: list[str] | None) -> list[dict[str, Any]]:
        asked = list(dict.fromkeys(jobs or ()))
        if len(asked) > DESCRIBE_JOBS_LIMIT:
            raise ClientException(f"Maximum number of jobs supported is {DESCRIBE_JOBS_LIMIT}")
        # A job's ARN ends with its id (moto's and AWS's): each is looked up, none scanned.
        found = (self._jobs.get(job.rsplit("/", 1)[-1]) for job in asked)
        return [job.describe() for job in found if job is not None]

    patcher.replace(BatchBackend, "describe_jobs", describe_jobs)


@patch(
    service="batch",
    defect="an array job whose children all stopped, some FAILED, never leaves its status (only all-SUCCEEDED "
    "is handled)",
    aws="an array job is FAILED once every child stopped and at least one failed, its statusReason "
    "'Array Child Job failed' (AWS's text as recorded in public code and operators' notes; not in the docs)",
    reference="https://docs.aws.amazon.com/batch/latest/userguide/array_jobs.html",
    seen_in=MOTO,
)
def array_job_fails_when_a_child_failed(patcher: Patcher, emulator: Any) -> None:
    def amend(job: Any, result: dict[str, Any]) -> None:
        children = job._child_jobs or []
        if children and all(child.job_stopped for child in children) and result["status"] != "SUCCEEDED":
            job.status = "FAILED"
            job.job_stopped, job.job_stopped_at = True, datetime.now()
            result["status"] = "FAILED"
            result["statusReason"] = "Array Child Job failed"

    amend_job_details(patcher, amend)


class TokenBucket:
    """CAPACITY tokens, refilled at RATE a second; a request takes one or is refused."""

    def __init__(self, capacity: float, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity, self.rate, self.clock = capacity, rate, clock
        self.tokens, self.updated = capacity, clock()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens < 1:
                return False
            self.tokens -= 1
            return True


class ApiRates:
    """Batch's request rates: a bucket for each account, Region and API, and how many requests of each API
    were refused (`throttled`)."""

    def __init__(self, capacity: float = REQUESTS_PER_SECOND, rate: float = REQUESTS_PER_SECOND) -> None:
        self.capacity, self.rate = capacity, rate
        self.buckets: dict[tuple[str, str, str], TokenBucket] = {}
        self.throttled: Counter[str] = Counter()
        self.refusing: Counter[str] = Counter()
        self.lock = threading.Lock()

    def admit(self, account: str, region: str, api: str) -> bool:
        with self.lock:
            bucket = self.buckets.get((account, region, api))
            if bucket is None:
                bucket = self.buckets[(account, region, api)] = TokenBucket(self.capacity, self.rate)
            refused = self.refusing[api] > 0
        if not refused and bucket.take():
            return True
        with self.lock:
            self.throttled[api] += 1
        return False


RATES: ApiRates | None = None  # the installed patch's, while it is installed


@contextmanager
def requests_refused(api: str) -> Iterator[ApiRates | None]:
    """Every request of API (`DescribeJobs`, say) throttled until the block ends, whatever the buckets
    hold: for tests in the emulator's process (where the patch is not installed, nothing changes)."""
    rates = RATES
    if rates is None:
        yield None
        return
    with rates.lock:
        rates.refusing[api] += 1
    try:
        yield rates
    finally:
        with rates.lock:
            rates.refusing[api] -= 1


@functools.cache
def _operation_names() -> dict[tuple[str, str], str]:
    """Batch's operations by HTTP method and the path's segment after /v1/ (botocore's model)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("batch")
    names = {}
    for name in model.operation_names:
        http = model.operation_model(name).http
        names[(http["method"], http["requestUri"].split("/")[2].split("?")[0])] = name
    return names


@patch(
    service="batch",
    defect="no request is ever throttled: any number of SubmitJob, TerminateJob, ListJobs and DescribeJobs "
    "calls a second succeed, and Step Functions' batch:submitJob.sync integration fails its task on the first "
    "refused DescribeJobs of its polling (its client makes one attempt)",
    aws="Batch throttles each API per account and Region at 50 requests a second (a fixed quota; no burst "
    "documented), answering past it HTTP 429 TooManyRequestsException 'Too Many Requests', which the SDKs "
    "retry with backoff; a refused SubmitJob of the integration fails its task with Batch.TooManyRequestsException "
    "(a Retry of the state machine's catches it), while its polling of the job is Step Functions' own and "
    "goes on",
    reference=f"{QUOTAS}; {THROTTLING}",
    seen_in=MOTO,
)
def batch_requests_are_throttled(patcher: Patcher, emulator: Any) -> None:
    from botocore.exceptions import ClientError
    from moto.batch.responses import BatchResponse
    from moto.core.exceptions import AWSError
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_batch import (
        StateTaskServiceBatch,
    )

    rates = ApiRates()
    patcher.replace(sys.modules[__name__], "RATES", rates)

    def call_action(self: BatchResponse) -> Any:
        segment = self._get_action()
        api = _operation_names().get((self.method, segment), segment)
        if rates.admit(self.current_account, self.region, api):
            # Resolved now, not at install: the IAM patches wrap BaseResponse.call_action after this one.
            return super(BatchResponse, self).call_action()
        refusal = AWSError(THROTTLED_MESSAGE, THROTTLED, 429)
        headers = {**dict(refusal.get_headers()), "status": refusal.code}
        status, headers, body = self._transform_response(self.response_headers, (refusal.description, headers))
        headers, body = self._enrich_response(headers, body)
        return status, headers, body

    patcher.replace(BatchResponse, "call_action", call_action)

    build = StateTaskServiceBatch._build_sync_resolver

    def build_sync_resolver(self, env, resource_runtime_part, normalised_parameters, state_credentials):
        resolve = build(self, env, resource_runtime_part, normalised_parameters, state_credentials)
        if resolve is None:
            return None

        def resolver() -> Any:
            try:
                return resolve()
            except ClientError as error:
                if error.response["Error"]["Code"] != THROTTLED:
                    raise
                return None  # not known yet: the engine polls again after its delay

        return resolver

    patcher.replace(StateTaskServiceBatch, "_build_sync_resolver", build_sync_resolver)
