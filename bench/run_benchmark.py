"""Benchmark: large requests through the emulator, against the floor of bare job processes.

    .venv/bin/python -m bench.run_benchmark --runs 1000:100 10000:100 10000:250 100000:1000

Each RUN is ENTRIES:BATCH_SIZE. One emulator and one stack (lean path, trivial work: job sleep 0)
serve every run. A run's entries are uploaded as JSON Lines and named by the request's `source`,
as a user would start a large run. It prints one JSON document per run: wall time, entries per
second, containers started, the parent's history events (constant in the number of entries),
state transitions per entry over every execution of the run, Lambda requests and GB-seconds,
container seconds and DynamoDB writes as measured, the run's cost on AWS at list prices from
those counts, and the floor measured in the same process: one bare job process per batch (the job
definition's command, the same entries, real task tokens) at the same concurrency. The ratio to
the floor is what orchestration costs.
"""

import argparse
import json
import math
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3

from local_emulator.batch_runtime import substitute_parameters
from local_emulator.deploy import deploy
from local_emulator.runner import OrchestratorRun
from local_emulator.server import Emulator, free_port
from local_emulator.waiting_tasks import ReferencedTasks

ROOT = Path(__file__).resolve().parents[1]


CONCURRENCY = 40  # batches at once (MapMaxConcurrency), and bare processes at once for the floor
PARAMETERS = {
    "batchSleepDuration": "0",
    "ArrayJobSize": "0",
    "NestedWaitSeconds": "0",
    "Patterns": "lean",
    "MapMaxConcurrency": str(CONCURRENCY),
    "MaxVcpus": str(CONCURRENCY // 4),  # 0.25 vCPU per job: exactly room for CONCURRENCY jobs
}
# us-east-1 list prices (see ../shared/NOTES-scale.md and the README's cost section)
PRICE = {
    "transition": 0.025 / 1000,
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second": 0.0000166667,
    "fargate_vcpu_hour": 0.04048,
    "fargate_gb_hour": 0.004445,
    "dynamodb_write": 0.625 / 1e6,
    "s3_put": 0.005 / 1000,
    "s3_get": 0.0004 / 1000,
}
JOB_VCPU, JOB_GB = 0.25, 0.5
FARGATE_START_SECONDS = 60  # what a job pays on AWS before its script runs (45-90 s): not seen locally


class DynamoDBWrites:
    """Write request units, counted inside the emulator (a transaction's item costs two)."""

    def __init__(self) -> None:
        self.units = 0
        self.lock = threading.Lock()

    def install(self) -> None:
        from moto.dynamodb.models import DynamoDBBackend

        for name, units in (("put_item", 1), ("update_item", 1), ("delete_item", 1)):
            self._count(DynamoDBBackend, name, lambda *_a, units=units, **_k: units)
        self._count(DynamoDBBackend, "transact_write_items", lambda _self, items, *_a, **_k: 2 * len(items))

    def _count(self, cls: Any, name: str, units_of: Any) -> None:
        original = getattr(cls, name)

        def counted(backend: Any, *args: Any, **kwargs: Any) -> Any:
            with self.lock:
                self.units += units_of(backend, *args, **kwargs)
            return original(backend, *args, **kwargs)

        setattr(cls, name, counted)


def upload_entries(s3: Any, entries: int) -> dict[str, str]:
    bucket = "bench-requests"
    if bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket=bucket)
    body = "".join(json.dumps({"name": f"entry{i}"}) + "\n" for i in range(entries))
    key = f"requests/{entries}.jsonl"
    s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
    return {"bucket": bucket, "key": key}


def history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    return [
        e
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
        for e in page["events"]
    ]


def orchestrate(
    emulator: Emulator, stack: Any, writes: DynamoDBWrites, entries: int, batch_size: int
) -> dict[str, Any]:
    runner = OrchestratorRun(emulator.endpoint_url, stack)
    source = upload_entries(runner.s3, entries)
    invocations_before = len(emulator.lambdas.journal.invocations)
    writes_before = writes.units
    started = time.monotonic()
    execution = runner.start({"input": {"source": source, "batchSize": batch_size}})
    description = runner.wait(execution, timeout_seconds=7200, progress=False)
    wall = time.monotonic() - started
    result = runner.result(description, wall)
    statuses = Counter(e.status for e in result.entries)
    indexes = [e.index for e in result.entries]
    if result.status != "SUCCEEDED" or indexes != list(range(entries)) or statuses != {"SUCCEEDED": entries}:
        raise RuntimeError(f"run {result.status} {result.error}: {result.cause[:300]}; results {dict(statuses)}")

    sfn = runner.sfn
    executions = runner.executions_of(execution)
    histories = [history(sfn, arn) for arn in executions]
    transitions = sum(1 for events in histories for e in events if e["type"].endswith("StateEntered"))
    invocations = emulator.lambdas.journal.invocations[invocations_before:]
    memory = {
        name: sfn_memory(emulator, name) for name in {i.function_name for i in invocations}
    }  # GB of each function, as deployed
    gb_seconds = sum(i.duration_seconds * memory[i.function_name] for i in invocations)
    jobs = [j for j in runner.all_jobs() if j["jobName"].startswith(f"run-{result.run_id}-")]
    container_seconds = sum((j["stoppedAt"] - j["startedAt"]) / 1000 for j in jobs if j.get("startedAt"))
    prepare = [i.duration_seconds for i in invocations if "PrepareRun" in i.function_name]
    finish = [i.duration_seconds for i in invocations if "FinishRun" in i.function_name]
    counts = {
        "state_transitions": transitions,
        "lambda_requests": len(invocations),
        "lambda_gb_seconds": round(gb_seconds, 1),
        "containers": len(jobs),
        "container_seconds": round(container_seconds, 1),
        "dynamodb_writes": writes.units - writes_before,
        "executions": len(executions),
    }
    return {
        "wall_seconds": round(wall, 1),
        "entries_accounted": len(result.entries),
        "parent_history_events": len(histories[0]),
        "prepare_seconds": round(sum(prepare), 1),
        "finish_seconds": round(sum(finish), 1),
        "transitions_per_entry": round(transitions / entries, 4),
        **counts,
        "aws_cost_usd": aws_cost(counts, entries, math.ceil(entries / batch_size)),
    }


def sfn_memory(emulator: Emulator, function_name: str) -> float:
    client = boto3.client("lambda", endpoint_url=emulator.endpoint_url)
    return client.get_function_configuration(FunctionName=function_name)["MemorySize"] / 1024


def aws_cost(counts: dict[str, Any], entries: int, batches: int) -> dict[str, float]:
    """The run on AWS at list prices, from the measured counts; containers also pay their start."""
    per_container_second = JOB_VCPU * PRICE["fargate_vcpu_hour"] / 3600 + JOB_GB * PRICE["fargate_gb_hour"] / 3600
    aws_container_seconds = counts["container_seconds"] + FARGATE_START_SECONDS * counts["containers"]
    # S3: the entries file and one results object per batch written; read: entries (ItemReader, Finish).
    s3 = (2 + batches + 2) * PRICE["s3_put"] + 4 * PRICE["s3_get"]
    parts = {
        "step_functions": counts["state_transitions"] * PRICE["transition"],
        "lambda": counts["lambda_requests"] * PRICE["lambda_request"]
        + counts["lambda_gb_seconds"] * PRICE["lambda_gb_second"],
        "fargate": aws_container_seconds * per_container_second,
        "dynamodb": counts["dynamodb_writes"] * PRICE["dynamodb_write"],
        "s3": s3,
    }
    total = sum(parts.values())
    return {
        **{k: round(v, 4) for k, v in parts.items()},
        "total": round(total, 4),
        "per_1000_entries": round(total / entries * 1000, 4),
    }


def floor(emulator: Emulator, stack: Any, entries: int, batch_size: int) -> tuple[float, int]:
    """One bare job process per batch (the job definition's command, the batch's entries, real
    tokens), CONCURRENCY at once: the same work without any orchestration."""
    sfn = boto3.client("stepfunctions", endpoint_url=emulator.endpoint_url)
    sqs = boto3.client("sqs", endpoint_url=emulator.endpoint_url)
    batch = boto3.client("batch", endpoint_url=emulator.endpoint_url)
    dynamodb = boto3.client("dynamodb", endpoint_url=emulator.endpoint_url)
    definition = batch.describe_job_definitions(jobDefinitions=[stack.outputs["JobDefinitionArn"]])["jobDefinitions"][0]
    container = definition["containerProperties"]
    token_table = next(e["value"] for e in container["environment"] if e["name"] == "TASK_TOKEN_TABLE")
    # Every token is made before the first process starts, with a bound as long as the whole floor.
    tasks = ReferencedTasks(dynamodb, token_table, sfn, sqs, timeout_seconds=7200, heartbeat_seconds=7000)
    spans = [(first, min(first + batch_size, entries) - 1) for first in range(0, entries, batch_size)]
    waiting = []
    for first, last in spans:
        task = tasks.start()
        items = [{"index": i, "name": f"entry{i}", "entry": {"name": f"entry{i}"}} for i in range(first, last + 1)]
        dynamodb.put_item(
            TableName=token_table,
            Item={
                "ref": {"S": task.ref},
                "taskToken": {"S": task.token},
                "entries": {"S": json.dumps(items, separators=(",", ":"))},
                "expiresAt": {"N": "4102444800"},
            },
        )
        waiting.append(task)
    env_base = {
        "PATH": emulator.batch.path,  # the emulator's jobs' PATH (its warm AWS CLI): the same calls on both sides
        "AWS_ENDPOINT_URL": emulator.endpoint_url,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        **{e["name"]: e["value"] for e in container["environment"]},
    }
    scratch = Path(tempfile.mkdtemp(prefix="bench-floor-"))

    def one(index: int) -> int:
        workdir = scratch / str(index)
        workdir.mkdir()
        first, last = spans[index]
        parameters = {
            **definition["parameters"],
            "taskRef": waiting[index].ref,
            "resultsKey": f"floor/{entries}/{first:09d}-{last:09d}.jsonl",
            "heartbeatIntervalSeconds": "200",  # as the submit function sets it (JobHeartbeatSeconds / 3)
        }
        command = substitute_parameters(container["command"], parameters)
        env = {**env_base, "AWS_BATCH_JOB_ID": f"floor-{index}", "HOME": str(workdir), "TMPDIR": str(workdir)}
        return subprocess.run(command, env=env, capture_output=True, timeout=1800).returncode

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
        codes = list(pool.map(one, range(len(spans))))
    elapsed = time.monotonic() - started
    shutil.rmtree(scratch)
    if any(codes):
        raise RuntimeError(f"{sum(1 for c in codes if c)} bare job processes failed")
    return elapsed, len(spans)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--runs", nargs="+", default=["1000:100", "10000:100", "10000:250", "100000:1000"], metavar="N:BATCH"
    )
    args = parser.parse_args()
    runs = [tuple(int(x) for x in run.split(":")) for run in args.runs]
    writes = DynamoDBWrites()
    with Emulator(port=free_port()) as emulator:
        writes.install()  # after the emulator's own patches, so that its serialised writes are counted once
        stack = deploy(emulator.endpoint_url, ROOT / "template.yaml", PARAMETERS, stack_name="bench")
        for entries, batch_size in runs:
            measured = orchestrate(emulator, stack, writes, entries, batch_size)
            floor_seconds, containers = floor(emulator, stack, entries, batch_size)
            wall = measured["wall_seconds"]
            report = {
                "entries": entries,
                "batch_size": batch_size,
                "concurrency": CONCURRENCY,
                **measured,
                "entries_per_second": round(entries / wall, 1),
                "floor_seconds": round(floor_seconds, 1),
                "floor_containers": containers,
                "ratio_to_floor": round(wall / floor_seconds, 2),
            }
            print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
