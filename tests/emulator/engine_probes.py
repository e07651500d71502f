"""One scenario per engine fix: True when moto behaves as AWS does.

Run as a script it prints, as JSON, what stock moto (no fix applied) does in each scenario;
tests/emulator/test_engine_fixes.py compares that with the fixed engine.
"""

import json
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import boto3
from moto import mock_aws

from tests.support.waiting_tasks import WaitingTasks

ROLE = "arn:aws:iam::123456789012:role/test"
PROBES: dict[str, Callable[[], bool]] = {}


def probe(fix_name: str) -> Callable[[Callable[[], bool]], Callable[[], bool]]:
    def register(scenario: Callable[[], bool]) -> Callable[[], bool]:
        PROBES[fix_name] = scenario
        return scenario

    return register


def create_machine(sfn: Any, definition: dict[str, Any]) -> str:
    return sfn.create_state_machine(name=f"m-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=ROLE)[
        "stateMachineArn"
    ]


def run_machine(sfn: Any, definition: dict[str, Any], name: str | None = "run", deadline: float = 15) -> dict[str, Any]:
    arn = create_machine(sfn, definition)
    started = sfn.start_execution(stateMachineArn=arn, **({"name": name} if name else {}), input="{}")
    end = time.monotonic() + deadline
    while (described := sfn.describe_execution(executionArn=started["executionArn"]))["status"] == "RUNNING":
        if time.monotonic() > end:
            raise TimeoutError(definition)
        time.sleep(0.02)
    return described


def waiting_state(queue_url: str, **bounds: int) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "Parameters": {"QueueUrl": queue_url, "MessageBody": {"token.$": "$$.Task.Token"}},
        **bounds,
        "End": True,
    }


@probe("send_task_failure_keeps_cause")
def failure_cause_arrives() -> bool:
    sfn, sqs = boto3.client("stepfunctions"), boto3.client("sqs")
    tasks = WaitingTasks(sfn, sqs)
    task = tasks.start()
    sfn.send_task_failure(taskToken=task.token, error="E", cause="the cause")
    return tasks.outcome(task).get("cause") == "the cause"


@probe("service_integrations_use_api_member_names")
def nested_sync2_execution_runs() -> bool:
    sfn = boto3.client("stepfunctions")
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
    return described["status"] == "SUCCEEDED" and json.loads(described["output"])["Output"] == {"ok": 1}


@probe("unnamed_executions_get_unique_names")
def unnamed_executions_differ() -> bool:
    sfn = boto3.client("stepfunctions")
    arn = create_machine(sfn, {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "End": True}}})
    first = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    second = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
    return first != second


@probe("describe_execution_always_encodes_output")
def string_output_is_json() -> bool:
    sfn = boto3.client("stepfunctions")
    described = run_machine(sfn, {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": "hello", "End": True}}})
    return described.get("output") == '"hello"'


@probe("states_errors_keep_their_names")
def timeout_inside_map_keeps_its_name() -> bool:
    sfn, sqs = boto3.client("stepfunctions"), boto3.client("sqs")
    queue = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    definition = {
        "StartAt": "Map",
        "States": {
            "Map": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {"StartAt": "Wait", "States": {"Wait": waiting_state(queue, TimeoutSeconds=1)}},
                "End": True,
            }
        },
    }
    arn = create_machine(sfn, definition)
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"items": [1]}))["executionArn"]
    end = time.monotonic() + 15
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < end
        time.sleep(0.05)
    return described.get("error") == "States.Timeout"


@probe("heartbeat_expiry_is_a_heartbeat_timeout")
def heartbeat_expiry_named() -> bool:
    sfn, sqs = boto3.client("stepfunctions"), boto3.client("sqs")
    queue = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    definition = {"StartAt": "Wait", "States": {"Wait": waiting_state(queue, TimeoutSeconds=20, HeartbeatSeconds=1)}}
    return run_machine(sfn, definition).get("error") == "States.HeartbeatTimeout"


@probe("jsonpath_expressions_are_parsed_once")
def jsonpath_parsed_once() -> bool:
    import moto.stepfunctions.parser.asl.utils.json_path as json_path
    from jsonpath_ng.ext.parser import ExtendedJsonPathParser

    calls = []
    real = ExtendedJsonPathParser.parse

    def counting(self: Any, path: str) -> Any:
        calls.append(path)
        return real(self, path)

    path = f"$.probe{uuid.uuid4().hex}"
    ExtendedJsonPathParser.parse = counting
    try:
        for _ in range(3):
            json_path.extract_json(path, {path[2:]: 1})
    finally:
        ExtendedJsonPathParser.parse = real
    return len(calls) == 1


@probe("early_callbacks_are_not_missed")
def callback_before_the_wait_is_seen() -> bool:
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


@probe("lambda_invoke_keeps_invocation_type")
def lambda_invocation_type_reaches_lambda() -> bool:
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
        run_machine(boto3.client("stepfunctions"), definition)
    finally:
        lambda_eval_utils._invoke_lambda_function = real
    return bool(sent) and sent[0].get("InvocationType") == "Event"


@probe("callbacks_skip_executions_still_starting")
def callback_during_a_start_is_answered() -> bool:
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.backend.execution import Execution
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    sfn = boto3.client("stepfunctions")
    arn = create_machine(sfn, {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    backend = stepfunctions_parser_backends["123456789012"]["us-east-1"]
    machine = backend.describe_state_machine(arn)
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
def empty_filter_gives_an_empty_list() -> bool:
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
    sfn = boto3.client("stepfunctions")
    arn = create_machine(sfn, definition)
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"items": [{"status": "SUCCEEDED"}]}))
    end = time.monotonic() + 10
    while (described := sfn.describe_execution(executionArn=execution["executionArn"]))["status"] == "RUNNING":
        assert time.monotonic() < end
        time.sleep(0.02)
    return described["status"] == "SUCCEEDED" and json.loads(described["output"]) == {"failed": 0}


@probe("start_execution_refuses_oversized_input")
def oversized_input_is_refused() -> bool:
    sfn = boto3.client("stepfunctions")
    arn = create_machine(sfn, {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    try:
        sfn.start_execution(stateMachineArn=arn, input=json.dumps({"data": "x" * 262144}))
    except sfn.exceptions.ClientError as error:
        return error.response["Error"]["Code"] == "ValidationException"
    return False


@probe("callbacks_of_completed_tasks_are_refused")
def second_callback_is_refused() -> bool:
    sfn, sqs = boto3.client("stepfunctions"), boto3.client("sqs")
    tasks = WaitingTasks(sfn, sqs)
    task = tasks.start()
    sfn.send_task_success(taskToken=task.token, output="{}")
    tasks.outcome(task)
    try:
        sfn.send_task_failure(taskToken=task.token, error="Late", cause="a duplicate")
    except sfn.exceptions.ClientError as error:
        return error.response["Error"]["Code"] in {"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"}
    return False


@probe("engine_api_errors_have_their_codes")
def invalid_definition_is_named() -> bool:
    sfn = boto3.client("stepfunctions")
    try:
        create_machine(sfn, {"StartAt": "Missing", "States": {}})
    except sfn.exceptions.ClientError as error:
        return error.response["Error"]["Code"] == "InvalidDefinition"
    return False


@probe("execution_start_time_is_an_iso_string")
def start_time_is_iso_8601() -> bool:
    sfn = boto3.client("stepfunctions")
    pass_state = {"Type": "Pass", "Parameters": {"started.$": "$$.Execution.StartTime"}, "End": True}
    try:  # stock moto cannot even encode the execution's output
        described = run_machine(sfn, {"StartAt": "P", "States": {"P": pass_state}})
    except TypeError:
        return False
    if described["status"] != "SUCCEEDED":
        return False
    started = json.loads(described["output"])["started"]
    return isinstance(started, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", started) is not None


@probe("dynamodb_writes_are_serialised")
def concurrent_updates_of_a_new_item_both_land() -> bool:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(
        TableName="audit",
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    key = {"k": {"S": "new"}}

    def update(attribute: str) -> None:
        dynamodb.update_item(
            TableName="audit",
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
        if threading.current_thread().name == "first" and getattr(inside, "backend", False) and not paused.is_set():
            paused.set()
            second_done.wait(timeout=1)
        return item

    DynamoDBBackend.update_item, Table.get_item = update_in_backend, pausing_read
    try:
        first = threading.Thread(target=update, args=("a",), name="first")
        first.start()
        paused.wait(timeout=5)
        update("b")
        second_done.set()
        first.join(timeout=10)
    finally:
        DynamoDBBackend.update_item, Table.get_item = backend_update, read
    item = dynamodb.get_item(TableName="audit", Key=key)["Item"]
    return "a" in item and "b" in item


def run_all() -> dict[str, bool]:
    results = {}
    for name, scenario in PROBES.items():
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            results[name] = scenario()
    return results


if __name__ == "__main__":
    for variable, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
    }.items():
        os.environ[variable] = value
    sys.stdout.write(json.dumps(run_all()))
