"""Benchmark: N entries through the emulator, against the floor of N bare job processes.

    .venv/bin/python bench/run_benchmark.py --entries 1 10 100

For each N it deploys nothing new: one emulator and one stack (job sleep 0, no array job, Map
concurrency 40) serve every N. N above the template's default MaxEntries is sent as several
requests started together, as the README tells users to split large requests. It prints one
JSON document per N: wall time, entries per second, per-entry orchestration overhead, state
transitions and history events per entry (parent and child), and the floor measured in the
same run: N processes running the job definition's command (script download, heartbeat,
callback: the same AWS CLI calls) at the same concurrency, with real task tokens kept in the
stack's task token table. The ratio
to the floor is what orchestration costs.
"""

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from local_emulator.batch_runtime import substitute_parameters  # noqa: E402
from local_emulator.deploy import deploy  # noqa: E402
from local_emulator.run import OrchestratorRun  # noqa: E402
from local_emulator.server import Emulator, free_port  # noqa: E402
from tests.support.template import sam_template  # noqa: E402
from tests.support.waiting_tasks import ReferencedTasks  # noqa: E402

CONCURRENCY = 40  # children at once per request (Map concurrency)
REQUEST_SIZE = int(sam_template()["Parameters"]["MaxEntries"]["Default"])
PARAMETERS = {
    "batchSleepDuration": "0",
    "ArrayJobSize": "0",
    "NestedWaitSeconds": "0",
    "MapMaxConcurrency": str(CONCURRENCY),
    "MaxVcpus": "50",  # 0.25 vCPU per job: room for 200 jobs, more than the requests run at once
}


def requests_for(entries: int) -> list[int]:
    return [min(REQUEST_SIZE, entries - start) for start in range(0, entries, REQUEST_SIZE)]


def history_counts(sfn: Any, execution_arn: str) -> tuple[int, int]:
    events = [
        e
        for page in sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn)
        for e in page["events"]
    ]
    return len(events), sum(1 for e in events if e["type"].endswith("StateEntered"))


def orchestrate(emulator: Emulator, stack: Any, entries: int) -> dict[str, Any]:
    runner = OrchestratorRun(emulator.endpoint_url, stack)
    sizes = requests_for(entries)
    names = iter(range(entries))
    payloads = [{"input": {"entries": [{"name": f"entry{next(names)}"} for _ in range(size)]}} for size in sizes]
    started = time.monotonic()
    executions = [runner.start(payload) for payload in payloads]
    descriptions = [
        runner.wait(e, size, timeout_seconds=7200, progress=False) for e, size in zip(executions, sizes, strict=True)
    ]
    wall = time.monotonic() - started
    sfn = runner.sfn
    results = [runner.result(d, wall) for d in descriptions]
    for result in results:
        if result.status != "SUCCEEDED":
            failures = Counter(f"{e.error}: {e.cause[:200]}" for e in result.entries if e.status != "SUCCEEDED")
            raise RuntimeError(
                f"a parent execution {result.status}: {result.error}: {result.cause[:500]}; "
                + "; ".join(f"{n} x {failure}" for failure, n in failures.most_common(5))
            )
    all_entries = [e for result in results for e in result.entries]
    failed = [e for e in all_entries if e.status != "SUCCEEDED"]
    parents = [history_counts(sfn, execution) for execution in executions]
    children = [history_counts(sfn, e.child_execution_arn) for e in all_entries]
    nested_arns = [
        json.loads(sfn.describe_execution(executionArn=e.child_execution_arn)["output"])["nested"]["executionArn"]
        for e in all_entries[: min(20, entries)]
    ]
    nested = [history_counts(sfn, arn) for arn in nested_arns]
    return {
        "requests": len(sizes),
        "wall_seconds": round(wall, 2),
        "failed_entries": len(failed),
        "parents": [{"history_events": p[0], "state_transitions": p[1]} for p in parents],
        "per_entry": {
            "parent_history_events": round(sum(p[0] for p in parents) / entries, 2),
            "parent_state_transitions": round(sum(p[1] for p in parents) / entries, 2),
            "child_history_events": statistics.mean(c[0] for c in children),
            "child_state_transitions": statistics.mean(c[1] for c in children),
            "nested_history_events": statistics.mean(n[0] for n in nested),
            "nested_state_transitions": statistics.mean(n[1] for n in nested),
        },
    }


def floor(emulator: Emulator, stack: Any, entries: int) -> float:
    """N bare job processes (the job definition's command, real tokens) at the same concurrency."""
    sfn = boto3.client("stepfunctions", endpoint_url=emulator.endpoint_url)
    sqs = boto3.client("sqs", endpoint_url=emulator.endpoint_url)
    batch = boto3.client("batch", endpoint_url=emulator.endpoint_url)
    dynamodb = boto3.client("dynamodb", endpoint_url=emulator.endpoint_url)
    # Every token is made before the first process starts: the last ones wait as long as the whole
    # floor runs (about 1 s per job on 2 cores), so their heartbeat bound is the run's, not a job's.
    definition = batch.describe_job_definitions(jobDefinitions=[stack.outputs["JobDefinitionArn"]])["jobDefinitions"][0]
    container = definition["containerProperties"]
    token_table = next(e["value"] for e in container["environment"] if e["name"] == "TASK_TOKEN_TABLE")
    tasks = ReferencedTasks(dynamodb, token_table, sfn, sqs, timeout_seconds=7200, heartbeat_seconds=7000)
    waiting = [tasks.start() for _ in range(entries)]
    env_base = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
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
        parameters = {
            **definition["parameters"],
            "taskRef": waiting[index].ref,
            "entry": json.dumps({"name": f"e{index}"}),
        }
        command = substitute_parameters(container["command"], parameters)
        env = {**env_base, "AWS_BATCH_JOB_ID": f"floor-{index}", "HOME": str(workdir), "TMPDIR": str(workdir)}
        return subprocess.run(command, env=env, capture_output=True, timeout=600).returncode

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=CONCURRENCY * len(requests_for(entries))) as pool:
        codes = list(pool.map(one, range(entries)))
    elapsed = time.monotonic() - started
    shutil.rmtree(scratch)
    if any(codes):
        raise RuntimeError(f"{sum(1 for c in codes if c)} bare job processes failed")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, nargs="+", default=[1, 10, 100])
    args = parser.parse_args()
    with Emulator(port=free_port()) as emulator:
        stack = deploy(emulator.endpoint_url, ROOT / "template.yaml", PARAMETERS, stack_name="bench")
        for entries in args.entries:
            measured = orchestrate(emulator, stack, entries)
            floor_seconds = floor(emulator, stack, entries)
            wall = measured["wall_seconds"]
            report = {
                "entries": entries,
                "concurrency": CONCURRENCY * len(requests_for(entries)),
                **measured,
                "entries_per_second": round(entries / wall, 3),
                "floor_seconds": round(floor_seconds, 2),
                "ratio_to_floor": round(wall / floor_seconds, 2),
                "orchestration_overhead_per_entry_seconds": round((wall - floor_seconds) / entries, 4),
            }
            print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
