"""Probes of the stepfunctions patches registered since patch_probes.py was split (see its docstring)."""

import hashlib
import json
import time
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.emulator.patch_probes import (
    PASS_CHILD,
    Aws,
    create_machine,
    distributed_map,
    finished,
    probe,
    run_machine,
    unique,
    until,
    waiting_state,
)


@probe("s3_object_listings_are_map_items")
def the_objects_under_a_prefix_are_the_items(aws: Aws) -> bool:
    sfn, s3 = aws.client("stepfunctions"), aws.client("s3")
    bucket = unique("listed")
    s3.create_bucket(Bucket=bucket)
    bodies = {"in/a.json": b"{}", "in/b/c.csv": b"x,y\n", "out/d.json": b"[]"}
    for key, body in bodies.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    reader = {"Resource": "arn:aws:states:::s3:listObjectsV2", "Parameters": {"Bucket": bucket, "Prefix": "in/"}}
    described = run_machine(sfn, distributed_map(PASS_CHILD, ItemReader=reader))
    if described["status"] != "SUCCEEDED":
        return False
    items = json.loads(described["output"])
    return [(i["Key"], i["Size"], i["Etag"], i["StorageClass"]) for i in items] == [
        (key, len(bodies[key]), f'"{hashlib.md5(bodies[key], usedforsecurity=False).hexdigest()}"', "STANDARD")
        for key in ("in/a.json", "in/b/c.csv")
    ] and all(
        set(item) == {"Etag", "Key", "LastModified", "Size", "StorageClass"}
        and isinstance(item["LastModified"], int)
        and abs(item["LastModified"] - time.time()) < 600  # epoch seconds
        for item in items
    )


@probe("jsonpath_variable_references_are_read")
def a_maps_batch_size_and_tolerance_come_from_variables(aws: Aws) -> bool:
    sfn = aws.client("stepfunctions")
    definition = distributed_map(
        PASS_CHILD,
        ItemsPath="$.items",
        ItemBatcher={"MaxItemsPerBatchPath": "$batch"},
        ToleratedFailureCountPath="$tolerated",
        ToleratedFailurePercentagePath="$limits.percentage",
    )
    assign = {"batch": 2, "tolerated": 1, "limits": {"percentage": 50}}
    definition["States"]["Set"] = {"Type": "Pass", "Assign": assign, "Next": "Map"}
    definition["StartAt"] = "Set"
    described = run_machine(sfn, definition, {"items": [1, 2, 3]})
    if described["status"] != "SUCCEEDED":
        return False
    [run] = sfn.list_map_runs(executionArn=described["executionArn"])["mapRuns"]
    map_run = sfn.describe_map_run(mapRunArn=run["mapRunArn"])
    return json.loads(described["output"]) == [{"Items": [1, 2]}, {"Items": [3]}] and (
        map_run["toleratedFailureCount"],
        map_run["toleratedFailurePercentage"],
    ) == (1, 50.0)


@probe("overlong_waits_fail_at_once")
def waits_past_a_year_fail_at_once(aws: Aws) -> bool:
    sfn = aws.client("stepfunctions")
    years_ahead = (datetime.now(UTC) + timedelta(days=3 * 365)).strftime("%Y-%m-%dT%H:%M:%SZ")
    outcomes = [
        run_machine(sfn, {"StartAt": "W", "States": {"W": {"Type": "Wait", **wait, "End": True}}}, seconds=5)
        for wait in ({"Seconds": 99999999}, {"Timestamp": years_ahead})
    ]
    return all(
        outcome["status"] == "FAILED"
        and outcome["error"] == "States.Runtime"
        and "Wait state delay is too long" in outcome["cause"]
        for outcome in outcomes
    )


def tokens_sent(sqs: Any, queue_url: str, wanted: int, seconds: float) -> list[str]:
    """The task tokens waiting children sent to QUEUE_URL within SECONDS, once WANTED have come."""
    tokens: list[str] = []

    def enough() -> bool:
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            tokens.append(json.loads(message["Body"])["token"])
        return len(tokens) >= wanted

    until(enough, seconds)
    return tokens


def refused(request: Any) -> bool:
    """Whether REQUEST was refused with a ValidationException."""
    try:
        request()
    except Exception as error:  # botocore's ClientError, whose code says which
        return getattr(error, "response", {}).get("Error", {}).get("Code") == "ValidationException"
    return False


@probe("map_run_updates_reach_the_running_map_run")
def an_update_raises_a_running_map_runs_concurrency_and_tolerance(aws: Aws) -> bool:
    sfn, sqs = aws.client("stepfunctions"), aws.client("sqs")
    queue = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
    child = {"StartAt": "Wait", "States": {"Wait": {**waiting_state(queue, TimeoutSeconds=60), "End": True}}}
    # One child at a time, and no failure tolerated, until the update.
    machine = create_machine(sfn, distributed_map(child, ItemsPath="$.items", MaxConcurrency=1))
    execution = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"items": [1, 2, 3]}))["executionArn"]
    try:
        first = tokens_sent(sqs, queue, 1, seconds=10)
        map_runs = until(lambda: sfn.list_map_runs(executionArn=execution)["mapRuns"], 5)
        if len(first) != 1 or not map_runs:
            return False
        map_run = map_runs[0]["mapRunArn"]
        sfn.update_map_run(mapRunArn=map_run, maxConcurrency=3, toleratedFailureCount=1)
        others = tokens_sent(sqs, queue, 2, seconds=5)  # the two pending children start beside the first
        if len(others) != 2:
            return False
        if not refused(lambda: sfn.update_map_run(mapRunArn=map_run, toleratedFailurePercentage=150)):
            return False
        sfn.send_task_failure(taskToken=first[0], error="Bad", cause="one failure, tolerated since the update")
        for token in others:
            sfn.send_task_success(taskToken=token, output="{}")
        described = finished(sfn, execution)
        counts = sfn.describe_map_run(mapRunArn=map_run)
        return (
            described["status"] == "SUCCEEDED"
            and (counts["maxConcurrency"], counts["toleratedFailureCount"]) == (3, 1)
            and (counts["executionCounts"]["failed"], counts["executionCounts"]["succeeded"]) == (1, 2)
            and refused(lambda: sfn.update_map_run(mapRunArn=map_run, maxConcurrency=5))  # it has ended
        )
    finally:
        with suppress(Exception):
            sfn.stop_execution(executionArn=execution)
