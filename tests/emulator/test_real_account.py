"""What a real account would hit, run through the emulator (as strict as AWS): task tokens that appear in
no Batch response, event, queue or log; entries too large for Batch's container overrides; Lambda's
asynchronous retries a minute later; bad parameter combinations refused at deploy; a retried child
start that finds its child finished; failure causes that cannot overflow the run's account."""

import json
import time
from typing import Any

import pytest

from local_emulator.deploy import DeployError, deploy
from local_emulator.run import OrchestratorRun
from tests.emulator.conftest import CALLBACK_ONLY, Deployed, deployed
from tests.support.paths import TEMPLATE


@pytest.fixture(scope="module")
def observed(emulator) -> tuple[Deployed, str]:
    """The full application, with every event of the default bus copied to a queue the test reads."""
    stack = deployed(emulator, "observed", {"batchSleepDuration": "1", "NestedWaitSeconds": "0", "ArrayJobSize": "2"})
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
    payload = {"input": {"entries": [{"name": "ok"}, {"name": "bad", "expectedJobStatus": "FAILED"}]}}
    execution = runner.start(payload)
    runner.wait(execution, 2, 180, progress=False)

    tokens = stack.task_tokens()
    assert len(tokens) >= 5, "acknowledgements and notifications of two entries, the job of the one that succeeds"
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
    assert any("reported success" in line for line in logs)

    # The rules' dead-letter queue would hold copies of these events (the emulator does not feed it).
    where = {
        "DescribeJobs": json.dumps(jobs, default=str),
        "ListJobs": json.dumps(summaries, default=str),
        "events": "\n".join(events),
        "logs": "\n".join(logs),
    }
    leaks = {place: sum(token in text for token in tokens) for place, text in where.items()}
    assert leaks == dict.fromkeys(where, 0)


def test_array_childrens_events_are_not_delivered_to_the_notify_function(observed):
    stack, _ = observed
    runner = OrchestratorRun(stack.emulator.endpoint_url, stack.stack)
    execution = runner.start({"input": {"entries": [{"name": "array-events"}]}})
    [entry] = runner.result(runner.wait(execution, 1, 180, progress=False), 0).entries
    child = json.loads(
        stack.client("stepfunctions").describe_execution(executionArn=entry.child_execution_arn)["output"]
    )
    array_parent = child["arrayJob"]["jobId"]

    notify = stack.stack.outputs["CallbackNotifyFunctionName"]
    journal = stack.emulator.lambdas.journal.invocations
    subjects = {i.subject for i in journal if i.function_name == notify and i.subject.startswith("aws.batch:")}
    assert f"aws.batch:{entry.job_id}" in subjects, "the job that reports to a task is followed"
    assert not [s for s in subjects if s.startswith(f"aws.batch:{array_parent}")], "array children are not"


def test_an_entry_too_large_for_batchs_container_overrides_fails_at_submission(callback_only: Deployed):
    sfn = callback_only.client("stepfunctions")
    # A child run alone gets what the parent's validator would refuse: quotes double in the overrides.
    child = {"entry": {"name": "quotes", "data": '"' * 4000}, "jobSleepSeconds": 1, "arrayJobSize": 0, "audit": None}
    execution = sfn.start_execution(
        stateMachineArn=callback_only.stack.outputs["SyncNestedStateMachineArn"], input=json.dumps(child)
    )["executionArn"]
    deadline = time.monotonic() + 120
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert (described["status"], described["error"]) == ("FAILED", "EntryTooLarge")
    assert "8192" in described["cause"]


@pytest.fixture(scope="module")
def crashing(emulator) -> Deployed:
    return deployed(emulator, "crashing", CALLBACK_ONLY)


def test_a_crash_of_the_notify_function_is_survived_through_lambdas_retry_a_minute_later(crashing: Deployed):
    notify = crashing.stack.outputs["CallbackNotifyFunctionName"]
    crashing.emulator.lambdas.crashes[notify] = 1  # the acknowledgement's first attempt
    started = time.monotonic()
    try:
        result = crashing.run({"input": {"entries": [{"name": "crash-once"}]}}, timeout=300)
    finally:
        crashing.emulator.lambdas.crashes.pop(notify, None)
    [entry] = result.entries
    attempts = [i.attempt for i in crashing.emulator.lambdas.journal.invocations if i.function_name == notify]
    assert (result.status, entry.status) == ("SUCCEEDED", "SUCCEEDED")
    assert 2 in attempts, "Lambda's own retry delivered the acknowledgement"
    assert time.monotonic() - started > 60, "Lambda retries about a minute after the failed attempt"


@pytest.mark.parametrize(
    ("overrides", "refusal"),
    [
        ({"JobVcpu": "0.25", "JobMemoryMiB": "4096"}, "JobMemoryMiB must be one of 512, 1024, 2048 with JobVcpu 0.25"),
        ({"JobVcpu": "2", "JobMemoryMiB": "4096", "MaxVcpus": "1"}, "MaxVcpus must be at least JobVcpu (2)"),
        ({"JobHeartbeatSeconds": "600", "JobCallbackTimeoutSeconds": "300"}, "JobHeartbeatSeconds (600) must be less"),
        ({"ChildTimeoutSeconds": "7200"}, "ChildTimeoutSeconds (7200) must be at least 9006"),
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


def test_a_retried_start_that_finds_its_child_finished_reports_how_it_ended(callback_only: Deployed, monkeypatch):
    from botocore.exceptions import ClientError
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
        StateTaskServiceSfn,
    )

    sfn = callback_only.client("stepfunctions")
    start = StateTaskServiceSfn._eval_service_task
    lost: list[str] = []

    def response_lost(self: Any, env: Any, *args: Any, **kwargs: Any) -> None:
        """The first start goes through, but its answer is lost (throttled on the way back) and only
        after the child has finished: the parent's retry finds it closed."""
        start(self, env, *args, **kwargs)
        if lost:
            return
        child = env.stack[-1]["executionArn"]  # the API response, before the integration names it
        lost.append(child)
        deadline = time.monotonic() + 120
        while sfn.describe_execution(executionArn=child)["status"] == "RUNNING" and time.monotonic() < deadline:
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
    result = callback_only.run({"input": {"entries": [{"name": "adopted"}]}}, timeout=180)

    [entry] = result.entries
    assert lost and entry.child_execution_arn == lost[0]
    assert (result.status, entry.status, entry.attempts) == ("SUCCEEDED", "SUCCEEDED", 1)
    assert entry.job_id
    history = [e["type"] for e in callback_only.history(result.execution_arn)]
    assert "TaskFailed" in history, "the lost answer was seen as a failure and retried"


def test_failure_causes_never_push_the_runs_account_past_the_state_limit(full: Deployed):
    """Each entry's array job fails; its cause is the whole job description (the entry with it): 32 of
    them are over 256 KiB. The run's account names each entry's error; the causes stay with the
    children and the audit table."""
    entries = [{"name": f"heavy{i}", "expectedJobStatus": "FAILED", "data": "x" * 7000} for i in range(32)]
    result = full.run({"input": {"entries": entries}}, timeout=900)

    assert (result.status, result.error) == ("FAILED", "EntriesFailed")
    assert [(e.index, e.status) for e in result.entries] == [(i, "FAILED") for i in range(32)]
    causes = [
        full.client("stepfunctions").describe_execution(executionArn=e.child_execution_arn)["cause"]
        for e in result.entries
    ]
    assert sum(len(c) for c in causes) > 262144, "the causes alone would not fit in a state"
    audited = full.audit(result.execution_arn)[1:]
    assert [a["cause"] for a in audited] == causes, "every cause is kept, in the audit table"
