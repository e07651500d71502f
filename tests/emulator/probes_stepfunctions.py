"""Probes of the stepfunctions patches registered since patch_probes.py was split (see its docstring)."""

import hashlib
import json
import time
from datetime import UTC, datetime, timedelta

from tests.emulator.patch_probes import PASS_CHILD, Aws, distributed_map, probe, run_machine, unique


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
