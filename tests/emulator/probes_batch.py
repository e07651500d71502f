"""Probes of the batch patches registered since patch_probes.py was split (see its docstring)."""

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from botocore.config import Config

from tests.emulator.patch_probes import (
    Aws,
    create_machine,
    finished,
    job_definition,
    job_queue,
    probe,
    unique,
    until,
)

BURST = 200  # ListJobs calls at once: four times the 50 a second Batch admits
CALLERS = 8  # threads making them: at 100 ms a call, still 80 a second


def single_attempt_batch(aws: Aws) -> Any:
    """A Batch client that never retries: each refusal reaches the caller."""
    return boto3.client(
        "batch",
        endpoint_url=aws.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"total_max_attempts": 1}),
    )


def refusals(batch: Any, calls: int, call: Any) -> tuple[int, list[dict[str, Any]]]:
    """How many of CALLS calls succeeded, and the responses of those refused. The calls are made from
    CALLERS threads at once: one after another, on a busy machine, they came slower than the rate
    Batch admits and none was refused (as none would be on AWS)."""

    def one(_: int) -> dict[str, Any] | None:
        try:
            call()
        except batch.exceptions.ClientError as error:
            return error.response
        return None

    with ThreadPoolExecutor(max_workers=CALLERS) as pool:
        answers = list(pool.map(one, range(calls)))
    refused = [answer for answer in answers if answer is not None]
    return calls - len(refused), refused


def sync_job_outlasts_throttled_polls(aws: Aws) -> bool:
    """A batch:submitJob.sync task whose polling of the job is refused for a while still succeeds."""
    from local_emulator.patches.batch import requests_refused

    sfn = aws.client("stepfunctions")
    task = {
        "Type": "Task",
        "Resource": "arn:aws:states:::batch:submitJob.sync",
        "Parameters": {"JobName": "probe", "JobQueue": job_queue(aws), "JobDefinition": job_definition(aws, ["true"])},
        "TimeoutSeconds": 60,
        "End": True,
    }
    machine = create_machine(sfn, {"StartAt": "Job", "States": {"Job": task}})
    with requests_refused("DescribeJobs") as rates:
        if rates is None:
            return False
        before = rates.throttled["DescribeJobs"]
        execution = sfn.start_execution(stateMachineArn=machine, name=unique("run"), input="{}")["executionArn"]
        if not until(lambda: rates.throttled["DescribeJobs"] >= before + 2, 20):
            return False
        still_running = sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    described = finished(sfn, execution, 30)
    return (
        still_running
        and described["status"] == "SUCCEEDED"
        and json.loads(described["output"])["Status"] == "SUCCEEDED"
    )


@probe("batch_requests_are_throttled")
def batch_throttles_a_burst_as_aws_does(aws: Aws) -> bool:
    batch = single_attempt_batch(aws)
    queue = job_queue(aws)
    succeeded, refused = refusals(batch, BURST, lambda: batch.list_jobs(jobQueue=queue))
    shaped = all(
        (r["Error"]["Code"], r["Error"]["Message"], r["ResponseMetadata"]["HTTPStatusCode"])
        == ("TooManyRequestsException", "Too Many Requests", 429)
        for r in refused
    )
    if not (refused and shaped and succeeded >= 50):
        return False
    # Each API has a bucket of its own: ListJobs spent, SubmitJob is still admitted.
    batch.submit_job(jobName="probe", jobQueue=queue, jobDefinition=job_definition(aws, ["true"]))
    return sync_job_outlasts_throttled_polls(aws)


@probe("describe_jobs_shows_resource_requirements")
def describe_jobs_shows_a_fargate_jobs_size(aws: Aws) -> bool:
    batch = aws.client("batch")
    definition = batch.register_job_definition(
        jobDefinitionName=unique("sized"),
        type="container",
        platformCapabilities=["FARGATE"],
        containerProperties={
            "image": "example",
            "command": ["true"],
            "resourceRequirements": [{"type": "VCPU", "value": "0.25"}, {"type": "MEMORY", "value": "512"}],
        },
    )["jobDefinitionArn"]
    job = batch.submit_job(
        jobName="probe",
        jobQueue=job_queue(aws),
        jobDefinition=definition,
        containerOverrides={"resourceRequirements": [{"type": "MEMORY", "value": "1024"}]},
    )
    [described] = batch.describe_jobs(jobs=[job["jobId"]])["jobs"]
    wanted = {r["type"]: r["value"] for r in described["container"].get("resourceRequirements", [])}
    return wanted == {"VCPU": "0.25", "MEMORY": "1024"}


@probe("describe_jobs_takes_up_to_100_by_id")
def describe_jobs_refuses_more_than_100(aws: Aws) -> bool:
    batch = aws.client("batch")
    queue, definition = job_queue(aws), job_definition(aws, ["true"])
    job = batch.submit_job(jobName="probe", jobQueue=queue, jobDefinition=definition)
    by_id = batch.describe_jobs(jobs=[job["jobId"]])["jobs"]
    by_arn = batch.describe_jobs(jobs=[job["jobArn"], "no-such-job"])["jobs"]
    if [j["jobId"] for j in by_id + by_arn] != [job["jobId"]] * 2:
        return False
    try:
        batch.describe_jobs(jobs=[job["jobId"]] + [unique("job") for _ in range(100)])
    except batch.exceptions.ClientException as error:
        return "Maximum number of jobs supported is 100" in error.response["Error"]["Message"]
    return False
