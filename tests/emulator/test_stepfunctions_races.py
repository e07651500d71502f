"""Races between a Distributed Map starting its children and the requests that list executions.

Under load (10,000 items, batches of 100) a SendTaskSuccess was answered with HTTP 500: the listing of
running executions iterated the Map Runs' children while a Map Run added one ("dictionary changed size
during iteration"). Each test here holds a listing half-way through the children, lets a Map Run start
its next child meanwhile, then lets the listing go on: the interleaving that failed, made every time.
"""

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from moto import mock_aws

from local_emulator import patches
from local_emulator.patches import distributed_map

ACCOUNT, REGION = "123456789012", "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/test"
# Each child waits until it is stopped: the first is running when the listing starts, and the Map Run
# (MaxConcurrency 1, a stopped child tolerated) starts the second only when the test stops the first.
WAITING_CHILD = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 600, "End": True}}}
BOUND_SECONDS = 30  # how long one thread waits for another before the test gives up


@pytest.fixture
def sfn() -> Iterator[Any]:
    with patches.applied({"stepfunctions"}), mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield boto3.client("stepfunctions", region_name=REGION)


@contextmanager
def children_started(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[threading.Event]]:
    """Events set as a Map Run has started its first and its second child (registered, listable)."""
    started = [threading.Event(), threading.Event()]
    start = distributed_map.MapRun.start

    def counting(run: Any, child: Any) -> None:
        start(run, child)
        next((event for event in started if not event.is_set()), threading.Event()).set()

    monkeypatch.setattr(distributed_map.MapRun, "start", counting)
    yield started


def held_once(real: Callable[..., Any], until: threading.Event, reached: threading.Event) -> Callable[..., Any]:
    """REAL, but its first call on the thread that made this holds until UNTIL is set (REACHED says it
    is holding): the listing stops there, half-way through the children."""
    me, held = threading.get_ident(), []

    def holding(*args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == me and not held:
            held.append(True)
            reached.set()
            until.wait(BOUND_SECONDS)
        return real(*args, **kwargs)

    return holding


@contextmanager
def map_run(sfn: Any, first_child_started: threading.Event) -> Iterator[str]:
    """A Map Run of two children, one at a time, once its first child has started; its execution is
    stopped at the end (and with it the child then running)."""
    processor = {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, **WAITING_CHILD}
    state = {
        "Type": "Map",
        "ItemProcessor": processor,
        "MaxConcurrency": 1,
        "ToleratedFailurePercentage": 100,
        "End": True,
    }
    definition = {"StartAt": "Map", "States": {"Map": state}}
    arn = sfn.create_state_machine(name="racing", definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps([1, 2]))["executionArn"]
    try:
        assert first_child_started.wait(BOUND_SECONDS)
        [run] = sfn.list_map_runs(executionArn=execution)["mapRuns"]
        yield run["mapRunArn"]
    finally:
        sfn.stop_execution(executionArn=execution)


def let_the_second_child_start(sfn: Any, map_run_arn: str, reached: threading.Event) -> threading.Thread:
    """In another thread, once the listing holds: stop the first child, so that the Map Run starts the
    second."""

    def stop_first() -> None:
        assert reached.wait(BOUND_SECONDS)
        [first] = sfn.list_executions(mapRunArn=map_run_arn)["executions"]
        sfn.stop_execution(executionArn=first["executionArn"])

    thread = threading.Thread(target=stop_first, daemon=True)
    thread.start()
    return thread


def test_a_callback_is_answered_while_a_map_run_adds_a_child(sfn, monkeypatch):
    """SendTaskSuccess (as every callback) looks into each running execution, the children included."""
    with children_started(monkeypatch) as started, map_run(sfn, started[0]) as map_run_arn:
        reached = threading.Event()
        monkeypatch.setattr(distributed_map, "has_started", held_once(distributed_map.has_started, started[1], reached))
        helper = let_the_second_child_start(sfn, map_run_arn, reached)
        with pytest.raises(sfn.exceptions.InvalidToken):
            sfn.send_task_success(taskToken="a-token-of-no-task", output="{}")
        helper.join(BOUND_SECONDS)
        assert started[1].is_set()


def test_a_map_runs_children_are_listed_while_it_adds_one(sfn, monkeypatch):
    """ListExecutions(mapRunArn) with a statusFilter reads each child's status as it lists them."""
    from moto.stepfunctions.parser.backend.execution import Execution

    with children_started(monkeypatch) as started, map_run(sfn, started[0]) as map_run_arn:
        reached = threading.Event()
        monkeypatch.setattr(Execution, "status", property(held_once(Execution.status.fget, started[1], reached)))
        helper = let_the_second_child_start(sfn, map_run_arn, reached)
        listed = sfn.list_executions(mapRunArn=map_run_arn, statusFilter="RUNNING")["executions"]
        helper.join(BOUND_SECONDS)
        assert started[1].is_set() and all(child["status"] == "RUNNING" for child in listed)
