"""One probe per registered patch (local_emulator/patches): a scenario that is True when moto behaves
as AWS does, run against a moto server on 127.0.0.1.

Run as a script (`python -m tests.emulator.patch_probes RESULTS.json`) it starts a stock moto server, no patch
applied, runs every probe against it and writes the results as JSON; tests/emulator/test_patches.py
runs the same probes against the emulator and compares.
"""

import io
import json
import os
import re
import sys
import threading
import time
import urllib.request
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest import mock

import boto3

from local_emulator.waiting_tasks import WaitingTasks
from tests.support.batch_queue import fargate_queue

ROLE = "arn:aws:iam::123456789012:role/test"
LAMBDA_TRUST = {
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]
}
PROBES: dict[str, Callable[["Aws"], bool]] = {}


@dataclass
class Aws:
    endpoint_url: str

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )


def probe(patch_name: str) -> Callable[[Callable[[Aws], bool]], Callable[[Aws], bool]]:
    def register(scenario: Callable[[Aws], bool]) -> Callable[[Aws], bool]:
        PROBES[patch_name] = scenario
        return scenario

    return register


def run_probe(name: str, aws: Aws) -> bool:
    """The probe's verdict; a probe that raises found moto misbehaving."""
    try:
        return PROBES[name](aws) is True
    except Exception:
        return False


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def until(check: Callable[[], Any], seconds: float, step: float = 0.05) -> Any:
    """CHECK's first truthy value within SECONDS, else None."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(step)
    return None


# -- Step Functions helpers ---------------------------------------------------------------
def create_machine(sfn: Any, definition: dict[str, Any]) -> str:
    return sfn.create_state_machine(name=unique("m"), definition=json.dumps(definition), roleArn=ROLE)[
        "stateMachineArn"
    ]


def finished(sfn: Any, execution_arn: str, seconds: float = 15) -> dict[str, Any]:
    def described() -> dict[str, Any] | None:
        description = sfn.describe_execution(executionArn=execution_arn)
        return description if description["status"] != "RUNNING" else None

    description = until(described, seconds)
    if description is None:
        raise TimeoutError(execution_arn)
    return description


def run_machine(sfn: Any, definition: dict[str, Any], payload: Any = None, seconds: float = 15) -> dict[str, Any]:
    arn = create_machine(sfn, definition)
    execution = sfn.start_execution(stateMachineArn=arn, name=unique("run"), input=json.dumps(payload or {}))
    return finished(sfn, execution["executionArn"], seconds)


def waiting_state(queue_url: str, **fields: Any) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "Parameters": {"QueueUrl": queue_url, "MessageBody": {"token.$": "$$.Task.Token"}},
        **fields,
    }


def history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
    return [event for page in pages for event in page["events"]]


# -- CloudFormation and Lambda helpers -----------------------------------------------------
FUNCTION_ROLE = {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": LAMBDA_TRUST}}


def create_stack(aws: Aws, resources: dict[str, Any], seconds: float = 20, **template: Any) -> dict[str, Any]:
    """The stack once it left CREATE_IN_PROGRESS (its status says how; CREATE_FAILED with the reason
    when CreateStack itself refused it). A function resource `Fn` gets its role `FnRole`."""
    cloudformation = aws.client("cloudformation")
    if "Fn" in resources:
        resources = {"FnRole": FUNCTION_ROLE, **resources}
    name = unique("stack")
    try:
        cloudformation.create_stack(StackName=name, TemplateBody=json.dumps({"Resources": resources, **template}))
    except cloudformation.exceptions.ClientError as error:
        return {"StackStatus": "CREATE_FAILED", "StackName": name, "Reason": error.response["Error"]["Message"]}

    def settled() -> dict[str, Any] | None:
        stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
        return stack if stack["StackStatus"] != "CREATE_IN_PROGRESS" else None

    return until(settled, seconds) or {"StackStatus": "CREATE_IN_PROGRESS", "StackName": name}


def stack_outputs(stack: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def function_zip(code: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", code)
    return buffer.getvalue()


ECHO = "def handler(event, context):\n    return {'echo': event}\n"


def lambda_role(aws: Aws) -> str:
    """A role Lambda can assume (moto checks that it exists)."""
    return aws.client("iam").create_role(RoleName=unique("role"), AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))[
        "Role"
    ]["Arn"]


def create_function(aws: Aws, code: str = ECHO, **extra: Any) -> str:
    name = unique("fn")
    aws.client("lambda").create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=lambda_role(aws),
        Handler="app.handler",
        Code={"ZipFile": function_zip(code)},
        **extra,
    )
    return name


def function_resource(code: str = ECHO, **properties: Any) -> dict[str, Any]:
    """A function and the role it runs with, as template resources (Fn and FnRole)."""
    return {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "Runtime": "python3.13",
            "Role": {"Fn::GetAtt": ["FnRole", "Arn"]},
            "Handler": "app.handler",
            "Code": {"ZipFile": code},
            **properties,
        },
    }


@contextmanager
def lambda_invocations() -> Iterator[list[dict[str, Any]]]:
    """Every event given to LambdaFunction.invoke meanwhile, which then returns an empty payload
    instead of running anything (so that no Docker and no runtime is needed)."""
    from moto.awslambda.models import LambdaFunction

    seen: list[dict[str, Any]] = []
    real = LambdaFunction.__dict__["invoke"]

    def spy(function: Any, body: str, request_headers: Any, response_headers: Any) -> bytes:
        seen.append(json.loads(body))
        return b"{}"

    LambdaFunction.invoke = spy
    try:
        yield seen
    finally:
        LambdaFunction.invoke = real


@contextmanager
def calls_of(owner: Any, name: str) -> Iterator[list[tuple[Any, ...]]]:
    """The arguments of each call of OWNER.NAME made on this thread meanwhile (another thread's, the
    emulator's say, do not count); the calls themselves go through."""
    me, calls, real = threading.get_ident(), [], getattr(owner, name)

    def recording(*args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == me:
            calls.append(args)
        return real(*args, **kwargs)

    with mock.patch.object(owner, name, recording):
        yield calls


def respond_to_custom_resource(event: dict[str, Any], status: str, data: dict[str, str] | None = None) -> None:
    body = json.dumps(
        {
            "Status": status,
            "Reason": f"the probe answered {status}",
            "PhysicalResourceId": event["LogicalResourceId"],
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "Data": data or {},
        }
    ).encode()
    # As cfn-response sends it: an empty content type, so that the body is not read as a form.
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": ""})
    urllib.request.urlopen(request, timeout=10).close()


# -- Batch helpers -------------------------------------------------------------------------
def job_definition(aws: Aws, command: list[str], **extra: Any) -> str:
    return aws.client("batch").register_job_definition(
        jobDefinitionName=unique("def"),
        type="container",
        platformCapabilities=["FARGATE"],
        containerProperties={
            "image": "local",
            "command": command,
            "resourceRequirements": [{"type": "VCPU", "value": "0.25"}, {"type": "MEMORY", "value": "512"}],
            "environment": [{"name": "GREETING", "value": "hi"}],
        },
        **extra,
    )["jobDefinitionArn"]


def job_queue(aws: Aws) -> str:
    return fargate_queue(aws.client("ec2"), aws.client("iam"), aws.client("batch"), unique("queue"), max_vcpus=4)


def stopped_job(aws: Aws, job_id: str, seconds: float = 15) -> dict[str, Any] | None:
    batch = aws.client("batch")

    def described() -> dict[str, Any] | None:
        job = batch.describe_jobs(jobs=[job_id])["jobs"][0]
        return job if job["status"] in ("SUCCEEDED", "FAILED") else None

    return until(described, seconds, step=0.1)


# == Step Functions ========================================================================
@probe("send_task_failure_keeps_cause")
def failure_cause_arrives(aws: Aws) -> bool:
    tasks = WaitingTasks(aws.client("stepfunctions"), aws.client("sqs"))
    task = tasks.start()
    aws.client("stepfunctions").send_task_failure(taskToken=task.token, error="E", cause="the cause")
    return tasks.outcome(task).get("cause") == "the cause"


@probe("service_integrations_use_api_member_names")
def nested_sync2_execution_runs(aws: Aws) -> bool:
    sfn = aws.client("stepfunctions")
    child = create_machine(sfn, {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"ok": 1}, "End": True}}})
    parent = {
        "StartAt": "Run",
        "States": {
            "Run": {
                "Type": "Task",
                "Resource": "arn:aws:states:::states:startExecution.sync:2",
                "Parameters": {"StateMachineArn": child, "Input": {"a": 1}},
                "TimeoutSeconds": 10,
                "End": True,
            }
        },
    }
    described = run_machine(sfn, parent)
    if not (described["status"] == "SUCCEEDED" and json.loads(described["output"])["Output"] == {"ok": 1}):
        return False
    sdk = {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:sfn:describeExecution",
        "Parameters": {"ExecutionArn": json.loads(described["output"])["ExecutionArn"]},
        "End": True,
    }
    read = run_machine(sfn, {"StartAt": "Describe", "States": {"Describe": sdk}})
    return read["status"] == "SUCCEEDED" and json.loads(read["output"])["Status"] == "SUCCEEDED"


@probe("unnamed_executions_get_unique_names")
def unnamed_executions_differ(aws: Aws) -> bool:
    sfn = aws.client("stepfunctions")
    arn = create_machine(sfn, {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "End": True}}})
    first = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    second = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    return first != second


@probe("describe_execution_always_encodes_output")
def string_output_is_json(aws: Aws) -> bool:
    sfn = aws.client("stepfunctions")
    described = run_machine(sfn, {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": "hello", "End": True}}})
    return (
        described.get("output") == '"hello"'
        and described.get("inputDetails") == {"included": True}
        and (described.get("redriveCount"), described.get("redriveStatus")) == (0, "NOT_REDRIVABLE")
    )


@probe("states_errors_keep_their_names")
def timeout_inside_map_keeps_its_name(aws: Aws) -> bool:
    sfn, sqs = aws.client("stepfunctions"), aws.client("sqs")
    queue = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
    definition = {
        "StartAt": "Map",
        "States": {
            "Map": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {
                    "StartAt": "Wait",
                    "States": {"Wait": {**waiting_state(queue, TimeoutSeconds=1), "End": True}},
                },
                "End": True,
            }
        },
    }
    return run_machine(sfn, definition, {"items": [1]}).get("error") == "States.Timeout"


@probe("heartbeat_expiry_is_matched_by_its_name")
def heartbeat_expiry_caught_by_its_name(aws: Aws) -> bool:
    sfn, sqs = aws.client("stepfunctions"), aws.client("sqs")
    queue = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
    waiting = waiting_state(
        queue,
        TimeoutSeconds=20,
        HeartbeatSeconds=1,
        Catch=[{"ErrorEquals": ["States.HeartbeatTimeout"], "Next": "Caught"}],
        End=True,
    )
    definition = {"StartAt": "Wait", "States": {"Wait": waiting, "Caught": {"Type": "Pass", "End": True}}}
    described = run_machine(sfn, definition)
    timed_out = [
        e["taskTimedOutEventDetails"] for e in history(sfn, described["executionArn"]) if e["type"] == "TaskTimedOut"
    ]
    return (
        described["status"] == "SUCCEEDED"
        and json.loads(described["output"])["Error"] == "States.Timeout"
        and [t["error"] for t in timed_out] == ["States.Timeout"]
        and "cause" not in timed_out[0]
    )


@probe("terminal_errors_escape_states_all")
def runtime_and_data_limit_errors_are_not_caught_by_states_all(aws: Aws) -> bool:
    sfn = aws.client("stepfunctions")
    table = big_item_table(aws)
    catch_all = [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]
    missing_path = {
        "Type": "Task",
        "Resource": "arn:aws:states:::dynamodb:getItem",
        "Parameters": {"TableName": table, "Key": {"k": {"S.$": "$.no.such.path"}}},
        "Catch": catch_all,
        "End": True,
    }
    too_large = get_big_item(table, Catch=catch_all, End=True)
    outcomes = [
        run_machine(sfn, {"StartAt": "Task", "States": {"Task": task, "Caught": {"Type": "Pass", "End": True}}})
        for task in (missing_path, too_large)
    ]
    return [(o["status"], o.get("error")) for o in outcomes] == [
        ("FAILED", "States.Runtime"),
        ("FAILED", "States.DataLimitExceeded"),
    ]


def keyed_table(aws: Aws, prefix: str) -> str:
    """A new on-demand table keyed by the string `k`."""
    table = unique(prefix)
    aws.client("dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return table


def big_item_table(aws: Aws) -> str:
    """A table holding an item of 300,000 bytes: more than a state may carry."""
    dynamodb = aws.client("dynamodb")
    table = keyed_table(aws, "big")
    dynamodb.put_item(TableName=table, Item={"k": {"S": "big"}, "data": {"S": "x" * 300_000}})
    return table


def get_big_item(table: str, **fields: Any) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::dynamodb:getItem",
        "Parameters": {"TableName": table, "Key": {"k": {"S": "big"}}},
        **fields,
    }


@probe("integration_failures_keep_their_states_errors")
def oversized_result_is_a_data_limit_error(aws: Aws) -> bool:
    definition = {"StartAt": "Get", "States": {"Get": get_big_item(big_item_table(aws), End=True)}}
    described = run_machine(aws.client("stepfunctions"), definition)
    return (described["status"], described.get("error")) == ("FAILED", "States.DataLimitExceeded")


def events_after(sfn: Any, execution_arn: str, seconds: float) -> list[str]:
    """The execution's event types once SECONDS have passed since it ended."""
    finished(sfn, execution_arn)
    time.sleep(seconds)  # events recorded after the end would show up meanwhile
    return [e["type"] for e in history(sfn, execution_arn)]


@probe("stopped_states_end_quietly")
def a_stopped_callback_task_records_nothing_more(aws: Aws) -> bool:
    sfn, sqs = aws.client("stepfunctions"), aws.client("sqs")
    queue = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
    machine = create_machine(
        sfn, {"StartAt": "Wait", "States": {"Wait": {**waiting_state(queue, TimeoutSeconds=2), "End": True}}}
    )
    execution = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    until(lambda: sqs.receive_message(QueueUrl=queue).get("Messages"), 5)  # the task waits
    sfn.stop_execution(executionArn=execution, error="Probe", cause="stopped by the probe")
    types = events_after(sfn, execution, seconds=3)  # past the task's own timeout
    return types[-1] == "ExecutionAborted" and "TaskTimedOut" not in types and "TaskFailed" not in types


@probe("stopped_execution_keeps_its_error_and_cause")
def a_stopped_execution_and_a_stopped_map_child_keep_the_error_and_cause(aws: Aws) -> bool:
    sfn = aws.client("stepfunctions")
    waiting = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 30, "End": True}}}
    execution = sfn.start_execution(stateMachineArn=create_machine(sfn, waiting), input="{}")["executionArn"]
    sfn.stop_execution(executionArn=execution, error="Probe.Stopped", cause="stopped by the probe")
    stopped = finished(sfn, execution)
    aborted = [e for e in history(sfn, execution) if e["type"] == "ExecutionAborted"]
    # A Distributed Map's child, found by its Map Run, stopped the same way.
    bucket, key = items_object(aws, json.dumps([{"i": 1}]))
    reader = {"Resource": "arn:aws:states:::s3:getObject", "Parameters": {"Bucket": bucket, "Key": key}}
    parent = sfn.start_execution(
        stateMachineArn=create_machine(sfn, distributed_map(waiting, ItemReader=reader)), input="{}"
    )["executionArn"]
    # Bounds for a machine busy with the rest of the suite (the probe once timed out there); each
    # wait ends as soon as its condition holds.
    map_runs = until(lambda: sfn.list_map_runs(executionArn=parent)["mapRuns"], 30)
    children = until(lambda: sfn.list_executions(mapRunArn=map_runs[0]["mapRunArn"])["executions"], 30)
    sfn.stop_execution(executionArn=children[0]["executionArn"], error="Probe.Child", cause="the child")
    child = finished(sfn, children[0]["executionArn"], 30)
    return (
        (stopped["status"], stopped.get("error"), stopped.get("cause"))
        == ("ABORTED", "Probe.Stopped", "stopped by the probe")
        and aborted[0].get("executionAbortedEventDetails", {}).get("error") == "Probe.Stopped"
        and (child["status"], child.get("error"), child.get("cause")) == ("ABORTED", "Probe.Child", "the child")
        and finished(sfn, parent, 30)["status"] == "FAILED"
    )


@probe("failed_map_iteration_aborts_its_siblings")
def failing_iteration_aborts_the_others(aws: Aws) -> bool:
    sfn = aws.client("stepfunctions")
    processor = {
        "StartAt": "Which",
        "States": {
            "Which": {
                "Type": "Choice",
                "Choices": [{"Variable": "$", "NumericEquals": 0, "Next": "Pause"}],
                "Default": "Long wait",
            },
            "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Boom"},
            "Boom": {"Type": "Fail", "Error": "Probe.Boom"},
            "Long wait": {"Type": "Wait", "Seconds": 20, "End": True},
        },
    }
    definition = {"StartAt": "Map", "States": {"Map": {"Type": "Map", "ItemProcessor": processor, "End": True}}}
    machine = create_machine(sfn, definition)
    execution = sfn.start_execution(stateMachineArn=machine, input="[0, 1]")["executionArn"]
    described = finished(sfn, execution, seconds=15)
    types = events_after(sfn, execution, seconds=1)
    tail = types[types.index("MapIterationFailed") :]
    return described.get("error") == "Probe.Boom" and tail == [
        "MapIterationFailed",
        "WaitStateAborted",
        "MapIterationAborted",
        "MapStateFailed",
        "ExecutionFailed",
    ]


@probe("aborted_sync_tasks_stop_their_work")
def stopping_a_parent_stops_its_sync_child(aws: Aws) -> bool:
    sfn = aws.client("stepfunctions")
    child = create_machine(sfn, {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 30, "End": True}}})
    parent = {
        "StartAt": "Run",
        "States": {
            "Run": {
                "Type": "Task",
                "Resource": "arn:aws:states:::states:startExecution.sync:2",
                "Parameters": {"StateMachineArn": child, "Input": {}},
                "TimeoutSeconds": 60,
                "End": True,
            }
        },
    }
    execution = sfn.start_execution(stateMachineArn=create_machine(sfn, parent), input="{}")["executionArn"]
    running = until(lambda: sfn.list_executions(stateMachineArn=child)["executions"], 10)
    if not running:
        return False
    sfn.stop_execution(executionArn=execution)
    child_arn = running[0]["executionArn"]
    return until(lambda: sfn.describe_execution(executionArn=child_arn)["status"] == "ABORTED", 10) is True


@probe("timeout_paths_fail_once_and_strictly")
def bad_timeout_paths_fail_the_execution_once(aws: Aws) -> bool:
    sfn, sqs = aws.client("stepfunctions"), aws.client("sqs")
    queue = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]

    def run(**fields: Any) -> tuple[dict[str, Any], list[str]]:
        task = {**waiting_state(queue, **fields), "End": True}
        described = run_machine(sfn, {"StartAt": "task", "States": {"task": task}}, {"negative": -5})
        return described, [e["type"] for e in history(sfn, described["executionArn"])]

    missing, missing_events = run(TimeoutSecondsPath="$.NoSuchTimeoutSecondsPath")
    negative, _ = run(TimeoutSeconds=30, HeartbeatSecondsPath="$.negative")
    return (
        missing_events == ["ExecutionStarted", "TaskStateEntered", "ExecutionFailed"]
        and missing.get("error") == "States.Runtime"
        and missing.get("cause")
        == "An error occurred while executing the state 'task' (entered at the event id #2). Invalid path "
        "'$.NoSuchTimeoutSecondsPath' : No results for path: $['NoSuchTimeoutSecondsPath']"
        and (negative["status"], negative.get("error")) == ("FAILED", "States.Runtime")
    )


@probe("task_tokens_are_realistic")
def tokens_are_hundreds_of_characters(aws: Aws) -> bool:
    sfn = aws.client("stepfunctions")
    tasks = WaitingTasks(sfn, aws.client("sqs"))
    task = tasks.start()
    sfn.send_task_success(taskToken=task.token, output="{}")  # a long token still identifies its task
    return 500 <= len(task.token) <= 2048 and tasks.outcome(task)["status"] == "SUCCEEDED"


@probe("callback_requests_are_bounded")
def oversized_callbacks_are_refused(aws: Aws) -> bool:
    sfn = aws.client("stepfunctions")
    tasks = WaitingTasks(sfn, aws.client("sqs"))
    task = tasks.start()
    refused = []
    for call in (
        lambda: sfn.send_task_success(taskToken=task.token, output=json.dumps({"data": "x" * 262144})),
        lambda: sfn.send_task_failure(taskToken=task.token, error="E", cause="c" * 32769),
        lambda: sfn.send_task_failure(taskToken=task.token, error="E" * 257, cause=""),
    ):
        try:
            call()
        except sfn.exceptions.ClientError as error:
            refused.append(error.response["Error"]["Code"])
    return refused == ["ValidationException"] * 3 and tasks.is_waiting(task)


@probe("effective_input_is_size_checked")
def oversized_input_after_parameters_fails(aws: Aws) -> bool:
    doubled = {
        "Type": "Pass",
        "Parameters": {"a.$": "$.data", "b.$": "$.data", "small": 1},
        "OutputPath": "$.small",
        "End": True,
    }
    described = run_machine(
        aws.client("stepfunctions"), {"StartAt": "Double", "States": {"Double": doubled}}, {"data": "x" * 140_000}
    )
    return (described["status"], described.get("error")) == ("FAILED", "States.DataLimitExceeded")


@probe("history_is_capped")
def execution_fails_at_25000_events(aws: Aws) -> bool:
    """An endless loop of a Pass and a Choice state (4 events a round): event 25,000 would be the
    Choice's entry, where a state still reads its input after the execution has failed."""
    sfn = aws.client("stepfunctions")
    always = [{"Variable": "$", "IsPresent": True, "Next": "A"}]
    loop = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Choice", "Choices": always}}}
    execution = sfn.start_execution(stateMachineArn=create_machine(sfn, loop), input="{}")["executionArn"]

    def ended_or_past_the_cap() -> dict[str, Any] | None:
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING" or events_so_far(execution) > 25000:
            return described
        return None

    described = until(ended_or_past_the_cap, seconds=15)
    if described is None or described["status"] == "RUNNING":  # an endless loop goes on, past the cap
        sfn.stop_execution(executionArn=execution)
        return False
    newest = sfn.get_execution_history(executionArn=execution, reverseOrder=True, maxResults=1)["events"]
    last = max(newest, key=lambda event: event["id"])  # the last event, whether or not histories are paged
    return (
        described.get("error") == "States.Runtime"
        and described.get("cause") == "The execution reached the maximum number of history events (25000)."
        and (last["id"], last["type"]) == (25000, "ExecutionFailed")
    )


def events_so_far(execution_arn: str) -> int:
    """The events of a running execution, read in this process, where the server runs (GetExecutionHistory
    would page through them, or send them all at once): 0 when it is not found here."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    region, account = execution_arn.split(":")[3:5]
    executions = stepfunctions_parser_backends[account][region]._get_executions()
    execution = next((e for e in executions if e.exec_worker and e.execution_arn == execution_arn), None)
    environment = execution.exec_worker.env if execution else None
    return len(environment.event_manager._history_event_list) if environment else 0


@probe("execution_history_is_paged")
def execution_history_comes_in_pages(aws: Aws) -> bool:
    """Pages of maxResults in both orders; a newest-first token keeps its place while the execution
    adds events (its first page is read during the 2 s Wait, after event 4); a token no page gave is
    refused."""
    sfn = aws.client("stepfunctions")
    machine = {
        "StartAt": "A",
        "States": {"A": {"Type": "Pass", "Next": "W"}, "W": {"Type": "Wait", "Seconds": 2, "Next": "C"}},
    }
    machine["States"]["C"] = {"Type": "Pass", "End": True}
    arn = sfn.start_execution(stateMachineArn=create_machine(sfn, machine), input="{}")["executionArn"]
    until(lambda: len(history(sfn, arn)) >= 4, seconds=10)  # in the Wait: events 1-4
    newest = sfn.get_execution_history(executionArn=arn, maxResults=2, reverseOrder=True)
    finished(sfn, arn)
    older = sfn.get_execution_history(
        executionArn=arn, maxResults=2, reverseOrder=True, nextToken=newest.get("nextToken", "none")
    )
    first = sfn.get_execution_history(executionArn=arn, maxResults=3)
    second = sfn.get_execution_history(executionArn=arn, maxResults=3, nextToken=first.get("nextToken", "none"))
    try:
        sfn.get_execution_history(executionArn=arn, nextToken="not-a-token")
        refused = False
    except sfn.exceptions.InvalidToken:
        refused = True
    ids = lambda page: [e["id"] for e in page["events"]]  # noqa: E731
    # [4, 3] unless a loaded machine read it later; the next page goes on where that one ended.
    [a, b] = ids(newest) if len(ids(newest)) == 2 else [0, 0]
    return (
        a - 1 == b >= 3
        and ids(older) == [b - 1, b - 2]
        and ids(first) == [1, 2, 3]
        and ids(second) == [4, 5, 6]
        and [e["type"] for e in history(sfn, arn)][-1] == "ExecutionSucceeded"
        and len(sfn.get_execution_history(executionArn=arn)["events"]) == len(history(sfn, arn)) == 8
        and refused
    )


@probe("lambda_invoke_results_carry_aws_metadata")
def lambda_invoke_result_has_http_metadata(aws: Aws) -> bool:
    function = create_function(aws, Timeout=10)
    invoke = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": function, "Payload": {"a": 1}},
        "TimeoutSeconds": 30,
        "End": True,
    }
    output = json.loads(
        run_machine(aws.client("stepfunctions"), {"StartAt": "Invoke", "States": {"Invoke": invoke}})["output"]
    )
    return (
        output.get("Payload") == {"echo": {"a": 1}}
        and output.get("ExecutedVersion") == "$LATEST"
        and output.get("SdkHttpMetadata", {}).get("HttpStatusCode") == 200
        and set(output.get("SdkResponseMetadata", {})) == {"RequestId"}
    )


@probe("illegal_intrinsic_escapes_are_refused")
def definition_with_an_illegal_escape_is_refused(aws: Aws) -> bool:
    sfn = aws.client("stepfunctions")

    def machine(expression: str, field: str = "Parameters") -> dict[str, Any]:
        return {"StartAt": "S", "States": {"S": {"Type": "Pass", field: {"parsed.$": expression}, "End": True}}}

    create_machine(sfn, machine("States.Format('it\\'s {} \\{ok\\}', $.x)"))  # legal escapes
    create_machine(sfn, machine("States.Format('say \\\"hi\\\"')", "Result"))  # a Result is no template
    try:
        create_machine(sfn, machine("States.Format('say \\\"hi\\\"')"))  # \\" is no escape here
    except sfn.exceptions.ClientError as error:
        return error.response["Error"]["Code"] == "InvalidDefinition" and (
            "The value for the field 'parsed.$' must be a valid JSONPath or a valid intrinsic function call at "
            "/States/S/Parameters" in error.response["Error"]["Message"]
        )
    return False


@probe("access_keys_are_found_without_creating_partitions")
def an_unknown_key_creates_no_partition(aws: Aws) -> bool:
    from moto.iam.models import get_account_id_from, iam_backends

    account = iam_backends["111122223333"]
    account["aws"]  # makes the account's IAM in one partition
    get_account_id_from("AKIANOSUCHKEY0000000")
    return list(account) == ["aws"]


@probe("service_data_is_read_once")
def two_sessions_read_a_model_once(aws: Aws) -> bool:
    import botocore.session
    from botocore.loaders import JSONFileLoader

    with calls_of(JSONFileLoader, "load_file") as loads:
        models = [botocore.session.Session().get_service_data("sqs") for _ in range(2)]
    read = [path for _, path in loads if path.endswith("service-2")]
    same = models[0] == models[1] and models[0]["metadata"]["serviceId"] == "SQS"
    return same and len(read) <= 1  # none when an earlier session of this process read it already


@probe("moto_modules_are_listed_once")
def a_request_lists_no_folder(aws: Aws) -> bool:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    dispatcher = DomainDispatcherApplication(lambda service: None)
    with calls_of(os, "listdir") as listed:
        found = [dispatcher.get_backend_for_host(host) for host in ("states.us-east-1.amazonaws.com", "batch")]
    return found == ["stepfunctions", "batch"] and listed == []


@probe("jsonpath_expressions_are_parsed_once")
def jsonpath_parsed_once(aws: Aws) -> bool:
    import moto.stepfunctions.parser.asl.utils.json_path as json_path
    from jsonpath_ng.ext.parser import ExtendedJsonPathParser

    path = f"$.probe{uuid.uuid4().hex}"
    with calls_of(ExtendedJsonPathParser, "parse") as calls:
        for _ in range(3):
            json_path.extract_json(path, {path[2:]: 1})
    return len(calls) == 1


@probe("definitions_are_lexed_once")
def a_definition_is_lexed_once_and_each_parse_has_components_of_its_own(aws: Aws) -> bool:
    from moto.stepfunctions.parser.asl.antlr.runtime.ASLLexer import ASLLexer
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    state = f"P{uuid.uuid4().hex}"
    definition = json.dumps({"StartAt": state, "States": {state: {"Type": "Pass", "Result": {"a": 1}, "End": True}}})
    lexed, programs = [], []
    with calls_of(ASLLexer, "nextToken") as tokens:
        for _ in range(3):
            programs.append(AmazonStateLanguageParser.parse(definition)[0])
            lexed.append(len(tokens))
    passes = [program.states.states[state] for program in programs]
    return (
        lexed[0] > 0
        and lexed[0] == lexed[-1]
        and len({id(p) for p in passes}) == len({id(p.result) for p in passes}) == 3
        and all(p.result.result_obj == {"a": 1} for p in passes)
    )


@probe("definitions_parse_independently")
def a_parse_is_not_changed_by_another_in_flight(aws: Aws) -> bool:
    from moto.stepfunctions.parser.asl.component.common.query_language import QueryLanguage, QueryLanguageMode
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    # Another thread's parse of a JSONata definition, half-way: one scope open.
    in_flight = Preprocessor()
    in_flight._query_language_per_scope.append(QueryLanguage(QueryLanguageMode.JSONata))
    jsonpath = {"QueryLanguage": "JSONPath", "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    try:
        AmazonStateLanguageParser.parse(json.dumps(jsonpath))
        return True
    except Exception:  # stock moto: "Cannot downgrade from JSONata context to a JSONPath context"
        return False
    finally:
        in_flight._query_language_per_scope.pop()


@probe("early_callbacks_are_not_missed")
def callback_before_the_wait_is_seen(aws: Aws) -> bool:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
        StateTaskServiceCallback,
    )
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint, CallbackOutcomeSuccess

    class RunningEnvironment:
        def is_running(self) -> bool:
            return True

    endpoint = CallbackEndpoint("token")
    endpoint.notify(CallbackOutcomeSuccess(callback_id="token", output="{}"))  # before the heartbeat is set up
    heartbeat = endpoint.setup_heartbeat_endpoint(heartbeat_seconds=1)
    outcome = StateTaskServiceCallback._wait_for_task_token_heartbeat(None, RunningEnvironment(), endpoint, heartbeat)
    return isinstance(outcome, CallbackOutcomeSuccess)


@probe("heartbeats_reach_a_waiting_task")
def heartbeat_without_heartbeat_seconds_is_accepted(aws: Aws) -> bool:
    sfn, sqs = aws.client("stepfunctions"), aws.client("sqs")
    queue = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
    arn = create_machine(
        sfn, {"StartAt": "Wait", "States": {"Wait": waiting_state(queue, TimeoutSeconds=20, End=True)}}
    )
    execution = sfn.start_execution(stateMachineArn=arn, name=unique("run"), input="{}")["executionArn"]
    message = until(lambda: sqs.receive_message(QueueUrl=queue).get("Messages"), seconds=10)
    token = json.loads(message[0]["Body"])["token"]
    try:
        sfn.send_task_heartbeat(taskToken=token)
    finally:
        sfn.send_task_success(taskToken=token, output="{}")
    return finished(sfn, execution)["status"] == "SUCCEEDED"


@probe("lambda_invoke_keeps_invocation_type")
def lambda_invocation_type_reaches_lambda(aws: Aws) -> bool:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    sent: list[dict[str, Any]] = []
    real = lambda_eval_utils._invoke_lambda_function

    def spy(parameters: dict[str, Any], region: str, state_credentials: Any) -> dict[str, Any]:
        sent.append(parameters)
        return {"StatusCode": 202, "Payload": ""}

    lambda_eval_utils._invoke_lambda_function = spy
    try:
        definition = {
            "StartAt": "Invoke",
            "States": {
                "Invoke": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": "f", "InvocationType": "Event", "Payload": {}},
                    "End": True,
                }
            },
        }
        run_machine(aws.client("stepfunctions"), definition)
    finally:
        lambda_eval_utils._invoke_lambda_function = real
    return bool(sent) and sent[0].get("InvocationType") == "Event"


@probe("callbacks_skip_executions_still_starting")
def callback_during_a_start_is_answered(aws: Aws) -> bool:
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.backend.execution import Execution
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    sfn = aws.client("stepfunctions")
    arn = create_machine(sfn, {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    machine = stepfunctions_parser_backends["123456789012"]["us-east-1"].describe_state_machine(arn)
    # Listed, as moto lists a new execution before setting its status, then before starting its worker.
    for status in (None, ExecutionStatus.RUNNING):
        starting = Execution.__new__(Execution)
        starting.exec_worker, starting.exec_status = None, status
        machine.executions.append(starting)
        try:
            sfn.send_task_success(taskToken="unknown", output="{}")
        except sfn.exceptions.InvalidToken:
            pass
        except Exception:
            return False
        finally:
            machine.executions.remove(starting)
    return True


@probe("filter_paths_without_match_are_empty_lists")
def empty_filter_gives_an_empty_list(aws: Aws) -> bool:
    definition = {
        "StartAt": "Count",
        "States": {
            "Count": {
                "Type": "Pass",
                "Parameters": {"failed.$": "States.ArrayLength($.items[?(@.status == 'FAILED')])"},
                "End": True,
            }
        },
    }
    described = run_machine(aws.client("stepfunctions"), definition, {"items": [{"status": "SUCCEEDED"}]})
    return described["status"] == "SUCCEEDED" and json.loads(described["output"]) == {"failed": 0}


@probe("start_execution_refuses_oversized_input")
def oversized_input_is_refused(aws: Aws) -> bool:
    sfn = aws.client("stepfunctions")
    arn = create_machine(sfn, {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    try:
        sfn.start_execution(stateMachineArn=arn, input=json.dumps({"data": "x" * 262144}))
    except sfn.exceptions.ClientError as error:
        return error.response["Error"]["Code"] == "ValidationException"
    return False


@probe("callbacks_of_completed_tasks_are_refused")
def second_callback_is_refused(aws: Aws) -> bool:
    sfn = aws.client("stepfunctions")
    tasks = WaitingTasks(sfn, aws.client("sqs"))
    task = tasks.start()
    sfn.send_task_success(taskToken=task.token, output="{}")
    tasks.outcome(task)
    try:
        sfn.send_task_failure(taskToken=task.token, error="Late", cause="a duplicate")
    except sfn.exceptions.ClientError as error:
        return error.response["Error"]["Code"] in {"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"}
    return False


@probe("engine_api_errors_have_their_codes")
def invalid_definition_is_named(aws: Aws) -> bool:
    sfn = aws.client("stepfunctions")
    try:
        create_machine(sfn, {"StartAt": "Missing", "States": {}})
    except sfn.exceptions.ClientError as error:
        return error.response["Error"]["Code"] == "InvalidDefinition"
    return False


@probe("execution_start_time_is_an_iso_string")
def start_time_is_iso_8601(aws: Aws) -> bool:
    pass_state = {"Type": "Pass", "Parameters": {"started.$": "$$.Execution.StartTime"}, "End": True}
    described = run_machine(aws.client("stepfunctions"), {"StartAt": "P", "States": {"P": pass_state}})
    if described["status"] != "SUCCEEDED":
        return False
    started = json.loads(described["output"])["started"]
    return isinstance(started, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", started) is not None


# == Step Functions: Distributed Map ========================================================
def distributed_map(child: dict[str, Any], **fields: Any) -> dict[str, Any]:
    processor = {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, **child}
    return {"StartAt": "Map", "States": {"Map": {"Type": "Map", "ItemProcessor": processor, "End": True, **fields}}}


PASS_CHILD = {"StartAt": "Pass", "States": {"Pass": {"Type": "Pass", "End": True}}}
# A child that fails when one of its batch's items asks to.
FAILING_CHILD = {
    "StartAt": "Each",
    "States": {
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.Items",
            "ItemProcessor": {
                "StartAt": "Check",
                "States": {
                    "Check": {
                        "Type": "Choice",
                        "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "Boom"}],
                        "Default": "Done",
                    },
                    "Boom": {"Type": "Fail", "Error": "Bad", "Cause": "the item asked to fail"},
                    "Done": {"Type": "Pass", "End": True},
                },
            },
            "End": True,
        }
    },
}


def items_object(aws: Aws, body: str) -> tuple[str, str]:
    bucket = unique("items")
    aws.client("s3").create_bucket(Bucket=bucket)
    aws.client("s3").put_object(Bucket=bucket, Key="items", Body=body.encode())
    return bucket, "items"


@probe("distributed_map_definitions_are_accepted")
def batcher_json_lines_and_writer_config_are_valid_and_an_unbounded_batcher_is_not(aws: Aws) -> bool:
    sfn = aws.client("stepfunctions")
    fields = {
        "ItemReader": {
            "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": {"InputType": "JSONL"},
            "Parameters": {"Bucket": "b", "Key": "k"},
        },
        "ItemBatcher": {"MaxItemsPerBatch": 10, "BatchInput": {"run.$": "$.run"}},
        "ResultWriter": {
            "Resource": "arn:aws:states:::s3:putObject",
            "Parameters": {"Bucket": "b", "Prefix": "out"},
            "WriterConfig": {"OutputType": "JSONL", "Transformation": "COMPACT"},
        },
        "ToleratedFailurePercentage": 10,
    }
    create_machine(sfn, distributed_map(PASS_CHILD, **fields))
    negative = {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"MaxItems": -1}, "Parameters": {}}
    for refused in ({"ItemBatcher": {"BatchInput": {}}}, {"ItemReader": negative}):
        try:
            create_machine(sfn, distributed_map(PASS_CHILD, **refused))
        except sfn.exceptions.InvalidDefinition:
            continue
        return False
    return True


@probe("distributed_map_runs_children_as_executions")
def batches_run_as_children_and_a_failed_batch_past_the_threshold_fails_the_map(aws: Aws) -> bool:
    sfn = aws.client("stepfunctions")
    lines = "".join(json.dumps({"i": i, "fail": i == 2}) + "\n" for i in range(6))
    bucket, key = items_object(aws, lines)
    reader = {
        "Resource": "arn:aws:states:::s3:getObject",
        "ReaderConfig": {"InputType": "JSONL", "MaxItemsPath": "$.max"},  # the sixth line is not read
        "Parameters": {"Bucket": bucket, "Key": key},
    }
    fields = {
        "ItemReader": reader,
        "Parameters": {"i.$": "$$.Map.Item.Value.i", "fail.$": "$$.Map.Item.Value.fail", "at.$": "$$.Map.Item.Index"},
        "ItemBatcher": {"MaxItemsPerBatch": 2, "BatchInput": {"run.$": "$.run"}},
        "ResultWriter": {
            "Resource": "arn:aws:states:::s3:putObject",
            "Parameters": {"Bucket": bucket, "Prefix": "out"},
        },
        "ToleratedFailureCount": 1,  # the failed batch holds two items: one too many
        # One child at a time, so no sibling is running (and aborted into FAILED) when the
        # failed batch ends the Map: the last batch is left PENDING.
        "MaxConcurrency": 1,
    }
    outcome = run_machine(sfn, distributed_map(FAILING_CHILD, **fields), {"run": "r1", "max": 5}, seconds=30)
    if (outcome["status"], outcome.get("error")) != ("FAILED", "States.ExceedToleratedFailureThreshold"):
        return False
    s3 = aws.client("s3")
    [manifest_key] = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=bucket, Prefix="out/")["Contents"]
        if o["Key"].endswith("manifest.json")
    ]
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
    [failed_file] = manifest["ResultFiles"]["FAILED"]
    [failed] = json.loads(s3.get_object(Bucket=bucket, Key=failed_file["Key"])["Body"].read())
    batch = json.loads(failed["Input"])
    [pending_file] = manifest["ResultFiles"]["PENDING"]
    [pending] = json.loads(s3.get_object(Bucket=bucket, Key=pending_file["Key"])["Body"].read())
    items = [{"i": 2, "fail": True, "at": 2}, {"i": 3, "fail": False, "at": 3}]
    if not (
        batch == {"Items": items, "BatchInput": {"run": "r1"}}
        and failed["Status"] == "FAILED"
        and failed["Error"] == "Bad"
        and json.loads(pending["Input"])["Items"] == [{"i": 4, "fail": False, "at": 4}]
    ):
        return False
    # A reader told to read fewer than no items, and a tolerance path to no number, fail the execution
    # (the latter citing the event the state was entered at, #2).
    negative = run_machine(sfn, distributed_map(PASS_CHILD, ItemReader=reader), {"max": -1})
    tolerance = distributed_map(PASS_CHILD, ItemsPath="$.items", ToleratedFailureCountPath="$.n")
    no_number = run_machine(sfn, tolerance, {"items": [1], "n": "x"})
    return (
        (negative["status"], negative["error"]) == ("FAILED", "States.ItemReaderFailed")
        and "field MaxItems must be positive" in negative["cause"]
        and (no_number["status"], no_number["error"]) == ("FAILED", "States.Runtime")
        and "(entered at the event id #2)." in no_number["cause"]
    )


@probe("map_run_children_are_listed")
def a_map_runs_children_are_listed_by_its_arn_and_not_with_the_parents(aws: Aws) -> bool:
    sfn = aws.client("stepfunctions")
    bucket, key = items_object(aws, json.dumps([{"i": i} for i in range(3)]))
    reader = {"Resource": "arn:aws:states:::s3:getObject", "Parameters": {"Bucket": bucket, "Key": key}}
    arn = create_machine(sfn, distributed_map(PASS_CHILD, ItemReader=reader))
    execution = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    if finished(sfn, execution)["status"] != "SUCCEEDED":
        return False
    [map_run] = sfn.list_map_runs(executionArn=execution)["mapRuns"]
    children = sfn.list_executions(mapRunArn=map_run["mapRunArn"])["executions"]
    described = sfn.describe_execution(executionArn=children[0]["executionArn"])
    return (
        len(children) == 3
        and all(c["mapRunArn"] == map_run["mapRunArn"] and c["status"] == "SUCCEEDED" for c in children)
        and described.get("mapRunArn") == map_run["mapRunArn"]
        and [e["executionArn"] for e in sfn.list_executions(stateMachineArn=arn)["executions"]] == [execution]
    )


# == DynamoDB ==============================================================================
@probe("dynamodb_writes_are_serialised")
def concurrent_updates_of_a_new_item_both_land(aws: Aws) -> bool:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    dynamodb = aws.client("dynamodb")
    table = keyed_table(aws, "audit")
    key = {"k": {"S": "new"}}

    def update(attribute: str) -> None:
        dynamodb.update_item(
            TableName=table,
            Key=key,
            UpdateExpression=f"SET {attribute} = :v",
            ExpressionAttributeValues={":v": {"S": "x"}},
        )

    # The first update pauses inside the backend, between reading the (absent) item and writing
    # it, while the second runs; serialised, the second waits for the first instead, and the pause
    # ends at its bound. (The response layer reads the item too: that read must not pause.)
    paused, second_done, inside = threading.Event(), threading.Event(), threading.local()
    backend_update, read = DynamoDBBackend.update_item, Table.get_item

    def update_in_backend(backend: Any, *args: Any, **kwargs: Any) -> Any:
        inside.backend = True
        try:
            return backend_update(backend, *args, **kwargs)
        finally:
            inside.backend = False

    def pausing_read(table: Any, *args: Any, **kwargs: Any) -> Any:
        item = read(table, *args, **kwargs)
        if getattr(inside, "backend", False) and inside_first.is_set() and not paused.is_set():
            paused.set()
            second_done.wait(timeout=1)
        return item

    # The server answers each request in a thread of its own: the first request is the one made
    # while `inside_first` is set, and only its thread pauses.
    inside_first = threading.Event()
    DynamoDBBackend.update_item, Table.get_item = update_in_backend, pausing_read
    try:
        inside_first.set()
        first = threading.Thread(target=update, args=("a",))
        first.start()
        paused.wait(timeout=5)
        inside_first.clear()
        update("b")
        second_done.set()
        first.join(timeout=10)
    finally:
        DynamoDBBackend.update_item, Table.get_item = backend_update, read
    item = dynamodb.get_item(TableName=table, Key=key)["Item"]
    return "a" in item and "b" in item


# == CloudFormation ========================================================================
@probe("custom_resources_respond_on_loopback")
def custom_resource_response_url_is_reachable(aws: Aws) -> bool:
    with lambda_invocations() as seen:
        create_stack(
            aws,
            {
                "Fn": function_resource(),
                # The probe's function never answers: the stack gives up after ServiceTimeout.
                "Custom": {
                    "Type": "Custom::Probe",
                    "Properties": {"ServiceToken": {"Fn::GetAtt": ["Fn", "Arn"]}, "ServiceTimeout": 3},
                },
            },
            seconds=5,
        )
        event = until(lambda: seen and seen[0], 5)
    return bool(event) and event["ResponseURL"].startswith("http://127.0.0.1:")


@probe("state_machines_in_the_executing_backend")
def state_machine_from_its_substituted_definition(aws: Aws) -> bool:
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"value": "${Value}"}, "End": True}}}
    stack = create_stack(
        aws,
        {
            "Machine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "Definition": definition,
                    "DefinitionSubstitutions": {"Value": "substituted"},
                    "RoleArn": ROLE,
                },
            }
        },
        Outputs={"Arn": {"Value": {"Fn::GetAtt": ["Machine", "Arn"]}}},
    )
    arn = stack_outputs(stack).get("Arn")
    if not arn:
        return False
    sfn = aws.client("stepfunctions")
    execution = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    return json.loads(finished(sfn, execution).get("output", "{}")) == {"value": "substituted"}


@probe("json_templates_are_read_as_json")
def escaped_character_outside_the_bmp_is_one_character(aws: Aws) -> bool:
    said = "Jobs \U0001f680 launched"  # json.dumps escapes it as a surrogate pair: \ud83d\ude80
    queue = {"Queue": {"Type": "AWS::SQS::Queue"}}
    stack = create_stack(aws, queue, Description=said, Outputs={"Said": {"Value": said}})
    body = json.dumps({"Description": said, "Resources": queue})
    summary = aws.client("cloudformation").get_template_summary(TemplateBody=body)
    return (
        stack["StackStatus"] == "CREATE_COMPLETE"
        and stack.get("Description") == said
        and stack_outputs(stack) == {"Said": said}
        and summary.get("Description") == said
    )


@probe("lambda_environment_values_are_strings")
def number_parameter_in_environment_is_a_string(aws: Aws) -> bool:
    stack = create_stack(
        aws,
        {"Fn": function_resource(Environment={"Variables": {"LIMIT": {"Ref": "Limit"}}})},
        Parameters={"Limit": {"Type": "Number", "Default": 7}},
        Outputs={"Name": {"Value": {"Ref": "Fn"}}},
    )
    name = stack_outputs(stack)["Name"]
    configuration = aws.client("lambda").get_function_configuration(FunctionName=name)
    return configuration["Environment"]["Variables"]["LIMIT"] == "7"


@probe("novalue_list_items_are_removed")
def optional_list_item_is_dropped(aws: Aws) -> bool:
    policy = {
        "PolicyName": "optional",
        "PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}]},
    }
    stack = create_stack(
        aws,
        {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": LAMBDA_TRUST,
                    "Policies": [{"Fn::If": ["Never", policy, {"Ref": "AWS::NoValue"}]}],
                },
            }
        },
        Conditions={"Never": {"Fn::Equals": ["a", "b"]}},
        Outputs={"Role": {"Value": {"Ref": "Role"}}},
    )
    if stack["StackStatus"] != "CREATE_COMPLETE":
        return False
    return aws.client("iam").list_role_policies(RoleName=stack_outputs(stack)["Role"])["PolicyNames"] == []


@probe("s3_bucket_versioning_is_set")
def bucket_versioning_from_the_template(aws: Aws) -> bool:
    stack = create_stack(
        aws,
        {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"VersioningConfiguration": {"Status": "Enabled"}}}},
        Outputs={"Bucket": {"Value": {"Ref": "Bucket"}}},
    )
    bucket = stack_outputs(stack)["Bucket"]
    put = aws.client("s3").put_object(Bucket=bucket, Key="k", Body=b"v")
    return aws.client("s3").get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled" and bool(
        put.get("VersionId")
    )


@probe("lambda_aliases")
def alias_is_created(aws: Aws) -> bool:
    stack = create_stack(
        aws,
        {
            "Fn": function_resource(),
            "Version": {"Type": "AWS::Lambda::Version", "Properties": {"FunctionName": {"Ref": "Fn"}}},
            "Alias": {
                "Type": "AWS::Lambda::Alias",
                "Properties": {
                    "FunctionName": {"Ref": "Fn"},
                    "FunctionVersion": {"Fn::GetAtt": ["Version", "Version"]},
                    "Name": "live",
                },
            },
        },
        Outputs={"Alias": {"Value": {"Ref": "Alias"}}, "Name": {"Value": {"Ref": "Fn"}}},
    )
    outputs = stack_outputs(stack)
    aliases = aws.client("lambda").list_aliases(FunctionName=outputs["Name"])["Aliases"]
    return [a["Name"] for a in aliases] == ["live"] and outputs.get("Alias", "").endswith(":live")


@probe("lambda_version_refs_are_arns")
def version_ref_is_an_arn(aws: Aws) -> bool:
    stack = create_stack(
        aws,
        {
            "Fn": function_resource(),
            "Version": {"Type": "AWS::Lambda::Version", "Properties": {"FunctionName": {"Ref": "Fn"}}},
        },
        Outputs={"Version": {"Value": {"Ref": "Version"}}},
    )
    return (
        re.fullmatch(r"arn:aws:lambda:us-east-1:\d{12}:function:[^:]+:1", stack_outputs(stack)["Version"]) is not None
    )


@probe("lambda_event_invoke_configs")
def event_invoke_config_is_set(aws: Aws) -> bool:
    stack = create_stack(
        aws,
        {
            "Fn": function_resource(),
            "Config": {
                "Type": "AWS::Lambda::EventInvokeConfig",
                "Properties": {"FunctionName": {"Ref": "Fn"}, "Qualifier": "$LATEST", "MaximumRetryAttempts": 1},
            },
        },
        Outputs={"Name": {"Value": {"Ref": "Fn"}}},
    )
    name = stack_outputs(stack)["Name"]
    return aws.client("lambda").get_function_event_invoke_config(FunctionName=name)["MaximumRetryAttempts"] == 1


def network(aws: Aws) -> tuple[str, str, str]:
    """The default VPC, one of its subnets and a new security group of it."""
    ec2 = aws.client("ec2")
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    subnet = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"][0]["SubnetId"]
    group = ec2.create_security_group(GroupName=unique("sg"), Description="probe", VpcId=vpc)["GroupId"]
    return vpc, subnet, group


@probe("batch_compute_environment_uses_the_service_linked_role")
def compute_environment_without_service_role(aws: Aws) -> bool:
    _, subnet, group = network(aws)
    stack = create_stack(
        aws,
        {
            "Environment": {
                "Type": "AWS::Batch::ComputeEnvironment",
                "Properties": {
                    "Type": "MANAGED",
                    "ComputeResources": {
                        "Type": "FARGATE",
                        "MaxvCpus": 4,
                        "Subnets": [subnet],
                        "SecurityGroupIds": [group],
                    },
                },
            }
        },
    )
    return stack["StackStatus"] == "CREATE_COMPLETE"


@probe("batch_job_definitions_as_the_api_stores_them")
def job_definition_keeps_nested_properties(aws: Aws) -> bool:
    stack = create_stack(
        aws,
        {
            "Definition": {
                "Type": "AWS::Batch::JobDefinition",
                "Properties": {
                    "Type": "container",
                    "PlatformCapabilities": ["FARGATE"],
                    "Timeout": {"AttemptDurationSeconds": 120},
                    "ContainerProperties": {
                        "Image": "local",
                        "Command": ["true"],
                        "Environment": [{"Name": "A", "Value": "1"}],
                        "ResourceRequirements": [{"Type": "VCPU", "Value": "0.25"}, {"Type": "MEMORY", "Value": "512"}],
                    },
                },
            }
        },
        Outputs={"Arn": {"Value": {"Ref": "Definition"}}},
    )
    arn = stack_outputs(stack)["Arn"]
    [definition] = aws.client("batch").describe_job_definitions(jobDefinitions=[arn])["jobDefinitions"]
    return (
        definition.get("timeout") == {"attemptDurationSeconds": 120}
        and definition.get("platformCapabilities") == ["FARGATE"]
        and definition["containerProperties"].get("environment") == [{"name": "A", "value": "1"}]
    )


@probe("custom_resources_complete_before_their_dependents")
def custom_resource_is_awaited_once(aws: Aws) -> bool:
    resources = {
        "Fn": function_resource(),
        "Custom": {"Type": "Custom::Probe", "Properties": {"ServiceToken": {"Fn::GetAtt": ["Fn", "Arn"]}}},
        "After": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::GetAtt": ["Custom", "Name"]}}},
    }

    def answering(status: str, data: dict[str, str] | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Create the stack while a thread answers each request of the custom resource with STATUS."""
        with lambda_invocations() as seen:
            done = threading.Event()

            def answer() -> None:
                answered = 0
                while not done.is_set():
                    for event in seen[answered:]:
                        respond_to_custom_resource(event, status, data)
                        answered += 1
                    time.sleep(0.05)

            responder = threading.Thread(target=answer, daemon=True)
            responder.start()
            stack = create_stack(aws, resources, seconds=15)
            time.sleep(0.5)  # a second request, if the response made one, would be seen meanwhile
            done.set()
            responder.join(timeout=5)
            return list(seen), stack

    name = unique("after")
    requests, stack = answering("SUCCESS", {"Name": name})
    created = aws.client("sqs").list_queues(QueueNamePrefix=name).get("QueueUrls", [])
    if not (len(requests) == 1 and stack["StackStatus"] == "CREATE_COMPLETE" and len(created) == 1):
        return False
    requests, stack = answering("FAILED")
    if not (stack["StackStatus"] != "CREATE_IN_PROGRESS" and "the probe answered FAILED" in stack.get("Reason", "")):
        return False
    # No answer at all: the stack fails once the resource's ServiceTimeout has passed.
    silent = {**resources["Custom"]["Properties"], "ServiceTimeout": "2"}
    with lambda_invocations():
        started = time.monotonic()
        stack = create_stack(aws, {**resources, "Custom": {"Type": "Custom::Probe", "Properties": silent}}, seconds=10)
    return stack["StackStatus"] != "CREATE_IN_PROGRESS" and time.monotonic() - started < 10


def refused(aws: Aws, template: dict[str, Any], parameters: dict[str, str]) -> str:
    """CreateStack's refusal message, or '' when the stack was accepted."""
    cloudformation = aws.client("cloudformation")
    template = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}, **template}
    try:
        cloudformation.create_stack(
            StackName=unique("stack"),
            TemplateBody=json.dumps(template),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        )
    except cloudformation.exceptions.ClientError as error:
        return error.response["Error"]["Message"]
    return ""


@probe("stack_parameters_are_checked")
def parameter_constraints_refuse_the_stack(aws: Aws) -> bool:
    declared = {
        "Parameters": {
            "Size": {"Type": "Number", "MinValue": 1, "MaxValue": 10},
            "Mode": {"Type": "String", "AllowedValues": ["Private", "Public"]},
            "Vpc": {"Type": "AWS::EC2::VPC::Id"},
        }
    }
    vpc, _, _ = network(aws)
    good = {"Size": "3", "Mode": "Public", "Vpc": vpc}
    return (
        refused(aws, declared, good) == ""
        and refused(aws, declared, {**good, "Size": "0"}) == "Parameter 'Size' must be a number not less than 1"
        and refused(aws, declared, {**good, "Mode": "Open"}) == "Parameter 'Mode' must be one of AllowedValues"
        and refused(aws, declared, {**good, "Vpc": "vpc-0000000000"})
        == "Parameter value vpc-0000000000 for parameter name Vpc does not exist"
    )


@probe("template_rules_are_enforced")
def failing_rule_refuses_the_stack(aws: Aws) -> bool:
    ec2 = aws.client("ec2")
    vpc, subnet, _ = network(aws)
    other_vpc = ec2.create_vpc(CidrBlock="10.99.0.0/16")["Vpc"]["VpcId"]
    other_subnet = ec2.create_subnet(VpcId=other_vpc, CidrBlock="10.99.1.0/24")["Subnet"]["SubnetId"]
    template = {
        "Parameters": {"Vpc": {"Type": "AWS::EC2::VPC::Id"}, "Subnets": {"Type": "List<AWS::EC2::Subnet::Id>"}},
        "Rules": {
            "SubnetsInVpc": {
                "Assertions": [
                    {
                        "Assert": {
                            "Fn::EachMemberEquals": [
                                {"Fn::ValueOfAll": ["AWS::EC2::Subnet::Id", "VpcId"]},
                                {"Ref": "Vpc"},
                            ]
                        },
                        "AssertDescription": "Subnets must belong to Vpc",
                    }
                ]
            }
        },
    }
    return (
        refused(aws, template, {"Vpc": vpc, "Subnets": subnet}) == ""
        and refused(aws, template, {"Vpc": vpc, "Subnets": f"{subnet},{other_subnet}"}) == "Subnets must belong to Vpc"
    )


# == EventBridge ===========================================================================
@probe("eventbridge_rules_invoke_lambda_targets")
def rule_invokes_its_lambda_target(aws: Aws) -> bool:
    events = aws.client("events")
    name = create_function(aws)
    arn = aws.client("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    rule = unique("rule")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["probe"]}))
    events.put_targets(Rule=rule, Targets=[{"Id": "fn", "Arn": arn}])
    with lambda_invocations() as seen:
        events.put_events(Entries=[{"Source": "probe", "DetailType": "Probe", "Detail": json.dumps({"rule": rule})}])
        delivered = until(lambda: [e for e in seen if e.get("detail", {}).get("rule") == rule], 5)
    return bool(delivered)


@probe("executions_announce_their_end")
def execution_end_reaches_the_event_bus(aws: Aws) -> bool:
    events, sqs, sfn = aws.client("events"), aws.client("sqs"), aws.client("stepfunctions")
    queue = sqs.create_queue(QueueName=unique("events"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    machine = create_machine(sfn, {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    rule = unique("rule")
    pattern = {"source": ["aws.states"], "detail": {"stateMachineArn": [machine]}}
    events.put_rule(Name=rule, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=rule, Targets=[{"Id": "queue", "Arn": queue_arn}])
    execution = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
    finished(sfn, execution)
    messages = until(lambda: sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=0).get("Messages"), 5)
    return bool(messages) and json.loads(messages[0]["Body"])["detail"]["executionArn"] == execution


# == Lambda ================================================================================
@probe("lambda_functions_run_in_worker_processes")
def handler_runs_and_reports_as_lambda_does(aws: Aws) -> bool:
    client = aws.client("lambda")
    echo = create_function(aws, Timeout=10)
    response = client.invoke(FunctionName=echo, Payload=json.dumps({"a": 1}))
    returned = json.loads(response["Payload"].read())
    failing = create_function(aws, "def handler(event, context):\n    raise ValueError('bad')\n", Timeout=10)
    error = client.invoke(FunctionName=failing, Payload=b"{}")
    raised = json.loads(error["Payload"].read())
    binary = create_function(aws, "def handler(event, context):\n    return b'raw'\n", Timeout=10)
    marshal = json.loads(client.invoke(FunctionName=binary, Payload=b"{}")["Payload"].read())
    try:
        client.invoke(FunctionName=echo, InvocationType="Event", Payload=json.dumps({"data": "x" * 1048576}))
        too_large = False
    except client.exceptions.ClientError as refused:
        too_large = refused.response["Error"]["Code"] == "RequestEntityTooLargeException"
    return (
        returned == {"echo": {"a": 1}}
        and response.get("ExecutedVersion") == "$LATEST"
        and error.get("FunctionError") == "Unhandled"
        and (raised["errorType"], raised["errorMessage"], set(raised))
        == (
            "ValueError",
            "bad",
            {"errorMessage", "errorType", "requestId", "stackTrace"},
        )
        and all("lambda_worker" not in frame for frame in raised["stackTrace"])
        and marshal["errorType"] == "Runtime.MarshalError"
        and too_large
    )


# == Batch =================================================================================
@probe("batch_jobs_run_as_host_processes")
def job_runs_its_command(aws: Aws) -> bool:
    definition = job_definition(aws, ["sh", "-c", 'test "$GREETING" = hi && test "$1" = there', "job", "Ref::word"])
    job_id = aws.client("batch").submit_job(
        jobName="probe", jobQueue=job_queue(aws), jobDefinition=definition, parameters={"word": "there"}
    )["jobId"]
    job = stopped_job(aws, job_id)
    return job is not None and job["status"] == "SUCCEEDED"


@probe("batch_job_environment_is_listed_once")
def environment_listed_once(aws: Aws) -> bool:
    batch = aws.client("batch")
    job_id = batch.submit_job(
        jobName="probe",
        jobQueue=job_queue(aws),
        jobDefinition=job_definition(aws, ["true"]),
        containerOverrides={"environment": [{"name": "EXTRA", "value": "1"}]},
    )["jobId"]
    for _ in range(3):
        job = batch.describe_jobs(jobs=[job_id])["jobs"][0]
    names = [e["name"] for e in job["container"]["environment"]]
    return sorted(names) == sorted(set(names)) and {"GREETING", "EXTRA", "AWS_BATCH_JOB_ID"} <= set(names)


@probe("describe_jobs_reports_exit_code_and_reason")
def stopped_job_shows_its_exit_code(aws: Aws) -> bool:
    job_id = aws.client("batch").submit_job(
        jobName="probe", jobQueue=job_queue(aws), jobDefinition=job_definition(aws, ["sh", "-c", "exit 3"])
    )["jobId"]
    job = stopped_job(aws, job_id)
    return job is not None and job["container"].get("exitCode") == 3


@probe("array_job_fails_when_a_child_failed")
def array_parent_fails_with_its_child(aws: Aws) -> bool:
    batch = aws.client("batch")
    definition = job_definition(aws, ["sh", "-c", 'test "$AWS_BATCH_JOB_ARRAY_INDEX" != 1'])
    parent = batch.submit_job(
        jobName="probe", jobQueue=job_queue(aws), jobDefinition=definition, arrayProperties={"size": 2}
    )["jobId"]
    children = [stopped_job(aws, f"{parent}:{index}") for index in range(2)]
    if None in children or [c["status"] for c in children] != ["SUCCEEDED", "FAILED"]:
        return False
    described = batch.describe_jobs(jobs=[parent])["jobs"][0]
    return (described["status"], described.get("statusReason")) == ("FAILED", "Array Child Job failed")


# Probes of newer patches live in modules of their own, one per service (they import this module's
# helpers, which are all defined by now).
if __name__ != "__main__":
    from tests.emulator import (  # noqa: F401
        probes_batch,
        probes_batch_array_jobs,
        probes_dynamodb,
        probes_iam,
        probes_lambda,
        probes_stepfunctions,
    )


def main(results_file: str, names: list[str]) -> None:
    """The probes NAMES (every probe if none) against stock moto (a moto server in this process, no
    patch applied), into RESULTS_FILE as JSON (moto prints to stdout on its own)."""
    from moto.core.config import default_user_config
    from moto.server import ThreadedMotoServer

    from local_emulator.server import ENVIRONMENT, free_port

    port = free_port()
    os.environ.update({**ENVIRONMENT, "MOTO_PORT": str(port)})  # as the emulator sets it, without its patches
    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        aws = Aws(f"http://127.0.0.1:{port}")
        results = {name: run_probe(name, aws) for name in names or PROBES}
    finally:
        server.stop()
    with open(results_file, "w") as out:
        json.dump(results, out)


if __name__ == "__main__":
    # The probes register in the module as imported by name, with those of the modules beside it.
    from tests.emulator import patch_probes

    patch_probes.main(sys.argv[1], sys.argv[2:])
