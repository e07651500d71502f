"""What a real account would hit, run through the emulator (as strict as AWS): task tokens that appear in
no Batch response, event, queue or log; entries too large for Batch's container overrides; Lambda's
asynchronous retries a minute later; bad parameter combinations refused at deploy; a retried start of
a batch's nested execution whose first answer was lost."""

import json
import time
from typing import Any

import pytest

from local_emulator.deploy import DeployError, deploy
from local_emulator.runner import OrchestratorRun
from tests.emulator.stacks import CALLBACK_ONLY, Deployed, deployed, sleep_command
from tests.support.paths import TEMPLATE


@pytest.fixture(scope="module")
def observed(emulator) -> tuple[Deployed, str]:
    """The full application, with every event of the default bus copied to a queue the test reads."""
    parameters = {"EntryCommand": sleep_command(1), "NestedWaitSeconds": "0", "ArrayJobSize": "2"}
    stack = deployed(emulator, "observed", parameters)
    sqs, events = stack.client("sqs"), stack.client("events")
    queue = sqs.create_queue(QueueName="every-event")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="every-event", EventPattern=json.dumps({"source": ["aws.batch", "aws.states"]}))
    events.put_targets(Rule="every-event", Targets=[{"Id": "queue", "Arn": arn}])
    return stack, queue


def drained(deployed: Deployed, queue_url: str) -> list[str]:
    sqs, bodies = deployed.client("sqs"), []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        bodies.extend(m["Body"] for m in messages)
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def every_log_event(deployed: Deployed) -> list[str]:
    logs = deployed.client("logs")
    return [
        event["message"]
        for group in logs.describe_log_groups()["logGroups"]
        for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group["logGroupName"])
        for event in page["events"]
    ]


def test_no_task_token_in_any_batch_response_event_queue_or_log(observed):
    stack, every_event = observed
    runner = OrchestratorRun(stack.emulator.endpoint_url, stack.stack)
    # Two batches of one entry, each through the full path (nested callback, array job, job callback).
    payload = {
        "input": {
            "entries": [{"name": "ok"}, {"name": "bad", "expectedJobStatus": "FAILED"}],
            "batchSize": 1,
            "patterns": "full",
            "toleratedFailurePercentage": 100,
        }
    }
    execution = runner.start(payload)
    result = runner.result(runner.wait(execution, 300, progress=False), 0)
    assert [(e.name, e.status) for e in result.entries] == [("ok", "SUCCEEDED"), ("bad", "FAILED")]

    tokens = stack.task_tokens()
    assert len(tokens) >= 4, "each batch's nested acknowledgement and its job's callback"
    jobs = runner.all_jobs()
    assert any(j["parameters"].get("taskRef", "none") != "none" for j in jobs)
    batch = stack.client("batch")
    summaries = [
        s
        for status in ("SUCCEEDED", "FAILED", "RUNNING", "RUNNABLE")
        for s in batch.list_jobs(jobQueue=stack.stack.outputs["JobQueueArn"], jobStatus=status)["jobSummaryList"]
    ]
    events = drained(stack, every_event)
    assert any('"aws.batch"' in e for e in events) and any('"aws.states"' in e for e in events)
    logs = every_log_event(stack)
    assert any("reported 1 entries: 1 succeeded, 0 failed" in line for line in logs)
    assert any("reported 1 entries: 0 succeeded, 1 failed" in line for line in logs)

    # The rules' dead-letter queue would hold copies of these events (the emulator does not feed it).
    where = {
        "DescribeJobs": json.dumps(jobs, default=str),
        "ListJobs": json.dumps(summaries, default=str),
        "events": "\n".join(events),
        "logs": "\n".join(logs),
    }
    leaks = {place: sum(token in text for token in tokens) for place, text in where.items()}
    assert leaks == dict.fromkeys(where, 0)


def test_array_childrens_events_are_not_delivered_to_the_job_event_function(observed):
    stack, _ = observed
    runner = OrchestratorRun(stack.emulator.endpoint_url, stack.stack)
    execution = runner.start({"input": {"entries": [{"name": "array-events"}], "patterns": "full"}})
    result = runner.result(runner.wait(execution, 300, progress=False), 0)
    [entry] = result.entries
    [batch] = stack.batches(execution)
    [array_parent] = [
        json.loads(e["taskSucceededEventDetails"]["output"])["JobId"]
        for e in stack.history(batch["executionArn"])
        if e["type"] == "TaskSucceeded" and e["taskSucceededEventDetails"]["resource"] == "submitJob.sync"
    ]
    assert (result.status, entry.status) == ("SUCCEEDED", "SUCCEEDED")

    job_events = stack.stack.outputs["JobEventsFunctionName"]
    journal = stack.emulator.lambdas.journal.invocations
    subjects = {i.subject for i in journal if i.function_name == job_events and i.subject.startswith("aws.batch:")}
    assert f"aws.batch:{entry.job_id}" in subjects, "the job that reports to a task is followed"
    assert not [s for s in subjects if s.startswith(f"aws.batch:{array_parent}")], "array children are not"


def test_an_entry_too_large_for_batchs_container_overrides_reaches_its_job_by_reference(callback_only: Deployed):
    """Batch on Fargate sends at most 8,192 characters of container overrides, and quotes double in
    them: an entry of 16,000 quotes could never travel in a job's parameters. The job gets a
    reference, and reads its batch's plan (its entries) from the runs bucket; an entry past the request's
    bound per entry (32 KiB) is refused before any job, naming it."""
    quotes = {"name": "quotes", "data": '"' * 16000}
    result = callback_only.run({"input": {"entries": [quotes]}}, timeout=300)
    [entry] = result.entries
    assert (result.status, entry.status) == ("SUCCEEDED", "SUCCEEDED")
    job = callback_only.client("batch").describe_jobs(jobs=[entry.job_id])["jobs"][0]
    assert set(job["parameters"]) >= {"taskRef", "reportKey", "heartbeatIntervalSeconds"}
    assert '""""' not in json.dumps(job) and len(json.dumps(job["parameters"])) < 1024

    huge = {"name": "huge", "data": '"' * 16400}
    size = len(json.dumps(huge, separators=(",", ":")).encode())
    refused = callback_only.run({"input": {"entries": [{"name": "fine"}, huge]}}, timeout=120)
    assert (refused.status, refused.error) == ("FAILED", "InvalidRequest")
    assert (
        refused.cause
        == f"1 problem(s): input.entries[1]: {size} bytes, at most 32768 per entry: pass an S3 key instead"
    )


@pytest.fixture(scope="module")
def crashing(emulator) -> Deployed:
    return deployed(emulator, "crashing", CALLBACK_ONLY)


def test_a_crash_of_the_notify_function_is_survived_through_lambdas_retry_a_minute_later(crashing: Deployed):
    notify = crashing.stack.outputs["CallbackNotifyFunctionName"]
    crashing.emulator.lambdas.crashes[notify] = 1  # the acknowledgement's first attempt
    started = time.monotonic()
    try:
        # The full path: the batch's nested machine is acknowledged through the notify function.
        result = crashing.run({"input": {"entries": [{"name": "crash-once"}], "patterns": "full"}}, timeout=300)
    finally:
        crashing.emulator.lambdas.crashes.pop(notify, None)
    [entry] = result.entries
    attempts = [i.attempt for i in crashing.emulator.lambdas.journal.invocations if i.function_name == notify]
    assert (result.status, entry.status) == ("SUCCEEDED", "SUCCEEDED"), (result.error, result.cause, entry, attempts)
    assert 2 in attempts, "Lambda's own retry delivered the acknowledgement"
    assert time.monotonic() - started > 60, "Lambda retries about a minute after the failed attempt"


@pytest.mark.parametrize(
    ("overrides", "refusal"),
    [
        ({"JobVcpu": "0.25", "JobMemoryMiB": "4096"}, "JobMemoryMiB must be one of 512, 1024, 2048 with JobVcpu 0.25"),
        ({"JobVcpu": "2", "JobMemoryMiB": "4096", "MaxVcpus": "1"}, "MaxVcpus must be at least JobVcpu (2)"),
        ({"JobHeartbeatSeconds": "600", "JobCallbackTimeoutSeconds": "300"}, "JobHeartbeatSeconds (600) must be less"),
        (
            {"MapMaxConcurrency": "100", "MaxVcpus": "16", "JobVcpu": "0.25"},
            "MapMaxConcurrency (100) must be at most MaxVcpus / JobVcpu (16 / 0.25 = 64)",
        ),
        ({"JobImageEcrRepository": "Not A Repository"}, "JobImageEcrRepository"),
    ],
)
def test_bad_parameter_combinations_are_refused_at_deploy_naming_the_parameters(emulator, overrides, refusal):
    with pytest.raises(DeployError, match=refusal.replace("(", r"\(").replace(")", r"\)")):
        deploy(emulator.endpoint_url, TEMPLATE, overrides, stack_name=f"refused-{abs(hash(refusal)) % 10**8}")


def test_subnets_outside_the_vpc_are_refused_at_deploy(emulator):
    import boto3

    ec2 = boto3.client("ec2", endpoint_url=emulator.endpoint_url)
    vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.42.1.0/24")["Subnet"]["SubnetId"]
    with pytest.raises(DeployError, match="every subnet of Subnets must belong to VPCID"):
        deploy(emulator.endpoint_url, TEMPLATE, {"Subnets": subnet}, stack_name="foreign-subnet")


def test_a_retried_nested_start_whose_answer_was_lost_runs_the_batch_once(callback_only: Deployed, monkeypatch):
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
        StateTaskServiceSfn,
    )

    sfn = callback_only.client("stepfunctions")
    start = StateTaskServiceSfn._eval_service_task
    lost: list[str] = []

    def response_lost(self: Any, env: Any, *args: Any, **kwargs: Any) -> None:
        """The batch's first start of its nested machine goes through, but its answer is lost
        (throttled on the way back) and only after the nested execution has finished: the batch's
        retry starts it again."""
        start(self, env, *args, **kwargs)
        if lost:
            return
        nested = env.stack[-1]["executionArn"]  # the API response, before the integration names it
        lost.append(nested)
        deadline = time.monotonic() + 120
        while sfn.describe_execution(executionArn=nested)["status"] == "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.2)
        env.stack.pop()
        raise ClientError(
            {
                "Error": {"Code": "Throttling", "Message": "Rate exceeded"},
                "ResponseMetadata": {"HTTPStatusCode": 400, "RequestId": "r"},
            },
            "StartExecution",
        )

    monkeypatch.setattr(StateTaskServiceSfn, "_eval_service_task", response_lost)
    result = callback_only.run({"input": {"entries": [{"name": "adopted"}], "patterns": "full"}}, timeout=300)

    [entry] = result.entries
    assert (result.status, entry.status, entry.attempt) == ("SUCCEEDED", "SUCCEEDED", 1)
    assert entry.job_id
    [batch] = callback_only.batches(result.execution_arn)
    history = callback_only.history(batch["executionArn"])
    failed = [e["taskFailedEventDetails"] for e in history if e["type"] == "TaskFailed"]
    assert [f["error"] for f in failed] == ["StepFunctions.ThrottlingException"], "the lost answer was retried"
    [succeeded] = [
        json.loads(e["taskSucceededEventDetails"]["output"])["ExecutionArn"]
        for e in history
        if e["type"] == "TaskSucceeded" and e["taskSucceededEventDetails"]["resource"] == "startExecution.sync:2"
    ]
    assert lost and succeeded != lost[0], "the retry started a nested execution of its own"
    assert [sfn.describe_execution(executionArn=arn)["status"] for arn in (lost[0], succeeded)] == ["SUCCEEDED"] * 2
    batch_jobs = [
        j
        for j in callback_only.client("batch").list_jobs(
            jobQueue=callback_only.stack.outputs["JobQueueArn"],
            filters=[{"name": "JOB_NAME", "values": [f"run-{result.run_id}-*"]}],
        )["jobSummaryList"]
    ]
    assert [j["jobId"] for j in batch_jobs] == [entry.job_id], "the batch ran once: one job"
