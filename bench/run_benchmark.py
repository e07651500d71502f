"""Benchmark: large requests through the emulator, against the floor of bare job processes.

    .venv/bin/python -m bench.run_benchmark --runs 1000:100 10000:100 100000:1000

Each RUN is ENTRIES:BATCH_SIZE. Every measurement runs in a process of its own, with a fresh emulator
and a freshly deployed stack (lean path, trivial work: job sleep 0), so that nothing an earlier
measurement left (executions, jobs, items, objects, warm workers) weighs on a later one; the deploy
and the set-up are not timed. Two things are measured at each job concurrency N of --concurrency
(more than the batches count as one per batch), --repeats times each, in turns:

- the floor: one bare job process per batch, N at once: the job definition's command with the same
  entries and real task tokens, and the environment, working folder and priority Batch gives a job,
  so that it makes the same AWS CLI calls at the same cost;
- the run: the request as a user starts it (entries uploaded as JSON Lines, named by `source`) on a
  stack with MapMaxConcurrency N and MaxVcpus room for N jobs; its time is the parent execution's,
  from its start to its end as Step Functions records them.

Each side is taken at the N whose median is lowest: what the product does at its best setting,
against the fastest the same jobs run without it. The ratio is the median run over the median floor;
the ratio at the run's own N is given too, and, when both sides are fastest at the same N, each run's
seconds over those of the floor measured right after it (paired: a drift of the machine's speed weighs
on both sides of a pair alike). A ratio below 0.95 is not a result: the orchestrated run cannot beat
the same jobs without orchestration by more than noise, so the RUN is reported INVALID, with why,
instead of a ratio.

It prints one JSON document per RUN (both sides' seconds at every repeat, minimum and median, their
N and what each N tried gave, the ratios, and the counts of the median run at its N: state
transitions, Lambda requests and GB-seconds, containers and their Fargate time, S3 requests and
DynamoDB units, with the run's cost on AWS at list prices from those counts; and the cost the run's
own summary.json gives, with how far the two are apart), then tables of every RUN, with the date,
the commit and the machine. Progress goes to standard error.

The model's counts are the emulator's own (every state entered in every execution's history, every
function invocation and its duration, every request of the stack's roles as IAM authorizes it, every
job attempt Batch recorded); the summary's are what the run's functions recorded as they went
(functions/runs/run_cost.py). Both price them with functions/runs/prices.py.
"""

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
from moto import __version__ as moto_version
from moto.batch.models import Job, batch_backends

from local_emulator.batch_runtime import LOW_PRIORITY, substitute_parameters
from local_emulator.deploy import deploy
from local_emulator.runner import OrchestratorRun
from local_emulator.server import ACCOUNT_ID, REGION, Emulator, free_port
from local_emulator.waiting_tasks import ReferencedTasks

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functions" / "runs"))
from batch_plan import plan_text
from batch_report import records
from run_cost import Fargate, cost_of, fargate_of
from usage import request_units

ROOT = Path(__file__).resolve().parents[1]

# Jobs at once, tried for the floor and for the run. On 2 cores, since the entry contract made every
# entry cost its job some CPU, both sides were fastest at 8 of 8, 16 and 40 (docs/benchmark.md).
CONCURRENCY = (4, 8, 16)
SMALL_RUN_ENTRIES = 10_000  # up to this many entries, a RUN is repeated 3 times by default; above, once
VALID_RATIO = 0.95
COST_AGREEMENT = 0.01  # how far summary.json's cost may be from the model's (issue: within 1 %)
MEASURE_TIMEOUT_SECONDS = 4 * 3600
JOB_VCPU = 0.25  # the template's JobVcpu default: MaxVcpus is set for N jobs of it


REQUESTS_BUCKET = "bench-requests"
ENTRY_COMMAND = "true"  # the bare work of an entry: the benchmark measures what surrounds it


def parameters(concurrency: int) -> dict[str, str]:
    return {
        "EntryCommand": ENTRY_COMMAND,
        "ArrayJobSize": "0",
        "NestedWaitSeconds": "0",
        "Patterns": "lean",
        "MapMaxConcurrency": str(concurrency),
        "MaxVcpus": str(math.ceil(concurrency * JOB_VCPU)),  # room for CONCURRENCY jobs (the deploy checks it)
        "RequestBucket": REQUESTS_BUCKET,  # the Prepare function may read the request there (IAM is enforced)
    }


class Requests:
    """The S3 requests and DynamoDB units of the stack's roles (its functions and jobs), counted in the
    emulator as IAM authorizes each request; the account root's (this benchmark's own) are not."""

    def __init__(self) -> None:
        self.units: Counter[str] = Counter()
        self.lock = threading.Lock()

    def install(self) -> None:
        from local_emulator.patches import iam_enforcement

        describe = iam_enforcement._Hooks.describe

        def counted(response: Any, prefix: str, moto_resource: str, s3_target: Any) -> Any:
            checks = describe(response, prefix, moto_resource, s3_target)
            units = self.units_of(response, prefix, s3_target, checks, iam_enforcement._operation)
            with self.lock:
                self.units.update(units)
            return checks

        iam_enforcement._Hooks.describe = staticmethod(counted)

    @staticmethod
    def units_of(response: Any, prefix: str, s3_target: Any, checks: list[Any], operation_of: Any) -> dict[str, int]:
        if s3_target is not None:  # the request's own action is its first check (a copy's source follows)
            action = checks[0].action_l if checks else ""
            listing = action in ("s3:putobject", "s3:listbucket", "s3:listbucketmultipartuploads")
            return {"s3PutList": 1} if listing else {"s3Get": 1} if action.startswith("s3:get") else {}
        if prefix != "dynamodb":
            return {}
        body = json.loads(response.body or "{}") if isinstance(response.body, str | bytes) else {}
        return request_units("dynamodb", operation_of(response), body)


# -- one measurement, in a process of its own ---------------------------------------------------


@contextlib.contextmanager
def fresh_stack(concurrency: int) -> Iterator[tuple[Any, Any, Requests]]:
    requests = Requests()
    with Emulator(port=free_port()) as emulator:
        requests.install()  # after the emulator's own patches: what IAM authorizes
        stack = deploy(emulator.endpoint_url, ROOT / "template.yaml", parameters(concurrency), stack_name="bench")
        yield emulator, stack, requests


def upload_entries(s3: Any, entries: int) -> dict[str, str]:
    bucket = REQUESTS_BUCKET
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


def running_at_once(spans: list[tuple[float, float]], wall: float) -> dict[str, float]:
    """How many of SPANS (start, end) ran at once: on average over WALL, and at most."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    now = peak = 0
    for _, step in edges:
        now += step
        peak = max(peak, now)
    return {"mean": round(sum(end - start for start, end in spans) / wall, 1), "peak": peak}


def measure_run(entries: int, batch_size: int, concurrency: int) -> dict[str, Any]:
    with fresh_stack(concurrency) as (emulator, stack, requests):
        runner = OrchestratorRun(emulator.endpoint_url, stack, poll_seconds=0.5)
        source = upload_entries(runner.s3, entries)
        requests_before = requests.units.copy()
        invocations_before = len(emulator.lambdas.journal.invocations)  # the deploy's custom resource
        execution = runner.start({"input": {"source": source, "batchSize": batch_size}})
        description = runner.wait(execution, timeout_seconds=MEASURE_TIMEOUT_SECONDS, progress=False)
        # The execution's own start and end: the 0.5 s between two DescribeExecution calls is not counted.
        wall = (description["stopDate"] - description["startDate"]).total_seconds()
        requests_during = requests.units - requests_before
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
        lam = boto3.client("lambda", endpoint_url=emulator.endpoint_url)
        memory = {  # GB of each function, as deployed
            name: lam.get_function_configuration(FunctionName=name)["MemorySize"] / 1024
            for name in {i.function_name for i in invocations}
        }
        gb_seconds = sum(i.duration_seconds * memory[i.function_name] for i in invocations)
        jobs = [j for j in runner.all_jobs() if j["jobName"].startswith(f"run-{result.run_id}-")]
        spans = [(j["startedAt"] / 1000, j["stoppedAt"] / 1000) for j in jobs if j.get("startedAt")]
        container_seconds = sum(end - start for start, end in spans)
        batch = boto3.client("batch", endpoint_url=emulator.endpoint_url)
        fargate = fargate_of(batch, [j["jobId"] for j in jobs], int(time.time() * 1000))  # every job has stopped
        prepare = [i.duration_seconds for i in invocations if "PrepareRun" in i.function_name]
        finish = [i.duration_seconds for i in invocations if "FinishRun" in i.function_name]
        counts = {
            "state_transitions": transitions,
            "lambda_requests": len(invocations),
            "lambda_gb_seconds": round(gb_seconds, 1),
            "containers": len(jobs),
            "container_seconds": round(container_seconds, 1),
            "fargate_vcpu_seconds": round(fargate.vcpu_seconds, 1),
            "s3_put_list_requests": requests_during["s3PutList"],
            "s3_get_requests": requests_during["s3Get"],
            "dynamodb_writes": requests_during["dynamodbWrites"],
            "dynamodb_reads": requests_during["dynamodbReads"],
            "executions": len(executions),
        }
        model = model_cost(counts, fargate, gb_seconds)
        summary = json.loads(
            runner.s3.get_object(Bucket=stack.outputs["RunsBucketName"], Key=f"runs/{result.run_id}/summary.json")[
                "Body"
            ].read()
        )["cost"]
        return {
            "seconds": round(wall, 2),
            "entries_accounted": len(result.entries),
            "parent_history_events": len(histories[0]),
            "prepare_seconds": round(sum(prepare), 1),
            "finish_seconds": round(sum(finish), 1),
            "transitions_per_entry": round(transitions / entries, 4),
            "jobs_at_once": running_at_once(spans, wall),
            **counts,
            "aws_cost_usd": {**model["parts"], "total": model["total"], "per_1000_entries": per_1000(model, entries)},
            "summary_cost_usd": {**summary["parts"], "total": summary["total"]},
            "summary_off_model": round(summary["total"] / model["total"] - 1, 4),
        }


def measure_floor(entries: int, batch_size: int, concurrency: int) -> dict[str, Any]:
    """One bare job process per batch, CONCURRENCY at once: the same work without any orchestration."""
    with fresh_stack(concurrency) as (emulator, stack, _writes), tempfile.TemporaryDirectory(prefix="floor-") as tmp:
        endpoint = emulator.endpoint_url
        sfn = boto3.client("stepfunctions", endpoint_url=endpoint)
        sqs = boto3.client("sqs", endpoint_url=endpoint)
        dynamodb = boto3.client("dynamodb", endpoint_url=endpoint)
        s3 = boto3.client("s3", endpoint_url=endpoint)
        batch = batch_backends[ACCOUNT_ID][REGION]
        definition = batch.get_job_definition(stack.outputs["JobDefinitionArn"])
        container_env = {e["name"]: e["value"] for e in definition.container_properties["environment"]}
        # Every token is made before the first process starts, with a bound as long as the whole floor.
        bucket = container_env["RUNS_BUCKET"]
        tasks = ReferencedTasks(
            dynamodb,
            container_env["TASK_TOKEN_TABLE"],
            sfn,
            sqs,
            timeout_seconds=7200,
            heartbeat_seconds=7000,
            iam=boto3.client("iam", endpoint_url=endpoint),
            s3=s3,
            bucket=bucket,
        )
        spans = [(first, min(first + batch_size, entries) - 1) for first in range(0, entries, batch_size)]
        settings = {  # the stack's entry settings, as the prepare function would choose them
            "command": ENTRY_COMMAND,
            "timeout": stack.parameters.get("EntryTimeoutSeconds", 300),
            "attempts": stack.parameters.get("EntryAttempts", 2),
            "backoff": stack.parameters.get("EntryBackoffSeconds", 1),
            "parallelism": stack.parameters.get("EntryParallelism", 4),
            "outputs": f"s3://{bucket}/runs/floor/outputs/",
            "run": "floor",
            "maxfiles": 1000,
        }
        waiting = [
            tasks.start(
                plan=plan_text(
                    settings,
                    [{"index": i, "name": f"entry{i}", "entry": {"name": f"entry{i}"}} for i in range(a, b + 1)],
                )
            )
            for a, b in spans
        ]
        # Each batch's job is recorded as the submit function submits it, but never started: its process,
        # with the command and the environment Batch would give it (batch_runtime's own), runs below.
        # A floor whose processes lacked the jobs' LANG once took twice as long: the warm AWS CLI made a
        # new driver for each of their calls.
        processes = []
        with mock.patch.object(Job, "start", lambda _job: None):
            for index, (first, last) in enumerate(spans):
                parameters = {
                    "taskRef": waiting[index].ref,
                    # Where the job role may write a batch's report (runs/*/reports/*).
                    "reportKey": f"runs/floor/reports/{first:09d}-{last:09d}.bin",
                    "heartbeatIntervalSeconds": str(int(stack.parameters["JobHeartbeatSeconds"]) // 3),
                }
                _, job_id, _ = batch.submit_job(
                    f"floor-b{first:09d}", definition.arn, stack.outputs["JobQueueArn"], {}, parameters=parameters
                )
                job = batch.get_job_by_id(job_id)
                workdir = Path(tmp) / str(index)
                (workdir / "tmp").mkdir(parents=True)
                command = substitute_parameters(job._get_container_property("command", []), job.parameters)
                processes.append(([*LOW_PRIORITY, *command], workdir, emulator.batch._environment(job, 1, workdir)))

        def one(index: int) -> tuple[int, float, float]:
            command, workdir, env = processes[index]
            started = time.time()
            with open(workdir / "output.log", "wb") as log:
                code = subprocess.run(
                    command,
                    cwd=workdir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    process_group=0,
                    timeout=MEASURE_TIMEOUT_SECONDS,
                ).returncode
            return code, started, time.time()

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            ended = list(pool.map(one, range(len(spans))))
        elapsed = time.monotonic() - started
        failed = [i for i, (code, _, _) in enumerate(ended) if code]
        if failed:
            log = (Path(tmp) / str(failed[0]) / "output.log").read_text(errors="replace")[-1000:]
            raise RuntimeError(f"{len(failed)} bare job processes failed; the first one's output:\n{log}")
        outcomes = Counter(tasks.outcome(task)["status"] for task in waiting)
        reports = (s3.get_object(Bucket=bucket, Key=f"runs/floor/reports/{a:09d}-{b:09d}.bin") for a, b in spans)
        results = sum(len(list(records(report["Body"].read()))) for report in reports)
        if outcomes != {"SUCCEEDED": len(spans)} or results != entries:
            raise RuntimeError(f"the floor's tasks ended {dict(outcomes)}, with {results} of {entries} results")
        return {
            "seconds": round(elapsed, 2),
            "containers": len(spans),
            "jobs_at_once": running_at_once([(a, b) for _, a, b in ended], elapsed),
        }


def model_cost(counts: dict[str, Any], fargate: Fargate, lambda_gb_seconds: float) -> dict[str, Any]:
    """The run on AWS at list prices, from the emulator's counts."""
    usage = Counter(
        {
            "transitions": counts["state_transitions"],
            "lambdaRequests": counts["lambda_requests"],
            "lambdaMbMs": round(lambda_gb_seconds * 1024 * 1000),
            "s3PutList": counts["s3_put_list_requests"],
            "s3Get": counts["s3_get_requests"],
            "dynamodbWrites": counts["dynamodb_writes"],
            "dynamodbReads": counts["dynamodb_reads"],
        }
    )
    return cost_of(usage, fargate)


def per_1000(cost: dict[str, Any], entries: int) -> float:
    return round(cost["total"] / entries * 1000, 4)


MEASURES = {"run": measure_run, "floor": measure_floor}


# -- the benchmark: every measurement in a fresh process ----------------------------------------


def measured(kind: str, entries: int, batch_size: int, concurrency: int) -> dict[str, Any]:
    """One measurement, in a new process (a fresh emulator, nothing else in it)."""
    with tempfile.TemporaryDirectory(prefix="bench-") as folder:
        out = Path(folder) / "measured.json"
        command = [sys.executable, "-m", "bench.run_benchmark", "--measure", kind, str(entries), str(batch_size)]
        command += [str(concurrency), str(out)]
        done = subprocess.run(command, cwd=ROOT, stdout=subprocess.DEVNULL, timeout=MEASURE_TIMEOUT_SECONDS + 600)
        if done.returncode or not out.exists():
            raise RuntimeError(f"the {kind} measurement of {entries}:{batch_size} at {concurrency} failed")
        return json.loads(out.read_text())


def summary(repeats: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = [r["seconds"] for r in repeats]
    return {
        "repeats": len(seconds),
        "seconds": seconds,
        "min": min(seconds),
        "median": round(statistics.median(seconds), 2),
    }


def median_one(measurements: list[dict[str, Any]]) -> dict[str, Any]:
    """The measurement whose seconds are the median (the faster middle one of an even number)."""
    return sorted(measurements, key=lambda m: m["seconds"])[(len(measurements) - 1) // 2]


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def benchmark(entries: int, batch_size: int, repeats: int, concurrency: list[int]) -> dict[str, Any]:
    batches = math.ceil(entries / batch_size)
    # More jobs at once than there are batches run as one job per batch does.
    tried = sorted({min(c, batches) for c in concurrency})
    measurements: dict[str, dict[int, list[dict[str, Any]]]] = {kind: {c: [] for c in tried} for kind in MEASURES}
    for repeat in range(repeats):
        # In turns, so that a slower spell of the machine weighs on every side and concurrency alike.
        for c in tried:
            for kind, by_concurrency in measurements.items():
                by_concurrency[c].append(measured(kind, entries, batch_size, c))
                seconds = by_concurrency[c][-1]["seconds"]
                progress(f"{entries}:{batch_size} {kind}, {c} at once, {repeat + 1}/{repeats}: {seconds} s")
    sides = {}
    for kind, by_concurrency in measurements.items():
        sweep = {c: summary(m) for c, m in by_concurrency.items()}
        best = min(sweep, key=lambda c: (sweep[c]["median"], sweep[c]["min"]))
        sides[kind] = {
            "concurrency": best,
            **sweep[best],
            "jobs_at_once": median_one(by_concurrency[best])["jobs_at_once"],
            "tried": {str(c): {"min": s["min"], "median": s["median"]} for c, s in sweep.items()},
        }
    run, floor = sides["run"], sides["floor"]
    ratio = run["median"] / floor["median"]
    same = run["median"] / floor["tried"][str(run["concurrency"])]["median"]
    notes = [
        f"the {kind} was fastest at an end of the concurrencies tried ({side['concurrency']}): try beyond it"
        for kind, side in sides.items()
        if len(tried) > 1 and (side["concurrency"] == tried[0] > 1 or side["concurrency"] == tried[-1] < batches)
    ]
    off = median_one(measurements["run"][run["concurrency"]])["summary_off_model"]
    if abs(off) > COST_AGREEMENT:
        notes.append(f"summary.json's cost is {off:+.2%} off the model's: more than {COST_AGREEMENT:.0%}")
    if repeats < 3:
        notes.append(f"{repeats} repeat(s): a median of fewer than 3 does not set one slow measurement aside")
    report: dict[str, Any] = {
        "entries": entries,
        "batch_size": batch_size,
        "run": run,
        "floor": floor,
        "ratio_basis": "median run at its fastest concurrency / median floor at its fastest concurrency",
    }
    spread = max(s["median"] / s["min"] - 1 for s in sides.values())
    if ratio < VALID_RATIO:
        report["ratio_to_floor"] = "INVALID"
        minima = run["min"] / floor["min"]
        why = (
            f"the minima give {minima:.2f} and the medians were up to {spread:.0%} above their minima: these "
            "measurements' noise is larger than what they compare (repeat them, on a quieter machine)"
            if minima >= VALID_RATIO and repeats > 1
            else "so the floor was not measured as a floor (or the machine was not quiet)"
        )
        report["invalid_because"] = (
            f"the median run ({run['median']} s) took {ratio:.2f} of the median floor ({floor['median']} s): "
            f"the orchestrated run cannot beat the same bare jobs by more than noise ({1 - VALID_RATIO:.0%}); {why}"
        )
    else:
        report["ratio_to_floor"] = round(ratio, 2)
        if ratio < 1:
            noise = (
                f"the medians were up to {spread:.0%} above their minima here"
                if repeats > 1
                else "one measurement of each side, whose noise this run does not measure"
            )
            notes.append(
                f"a ratio below 1 ({ratio:.2f}) is the noise of the measurement, not orchestration beating the "
                f"bare jobs: it is within {1 - VALID_RATIO:.0%} of the floor, and {noise}; more repeats narrow it"
            )
    if run["concurrency"] == floor["concurrency"]:
        # Each run against the floor measured right after it, at the same N: a drift of the machine's
        # speed over the measurements weighs on both sides of a pair alike.
        pairs = zip(measurements["run"][run["concurrency"]], measurements["floor"][floor["concurrency"]], strict=True)
        report["paired_ratios"] = [round(r["seconds"] / f["seconds"], 3) for r, f in pairs]
    counts = median_one(measurements["run"][run["concurrency"]])
    return {
        **report,
        # The same job concurrency on both sides: orchestration's cost at the run's MapMaxConcurrency.
        "ratio_at_run_concurrency": round(same, 2)
        if same >= VALID_RATIO
        else f"not a floor: the bare jobs at {run['concurrency']} at once took longer than the run",
        "notes": notes,
        "entries_per_second": round(entries / run["median"], 1),
        **{k: v for k, v in counts.items() if k not in ("seconds", "jobs_at_once")},
    }


def table(reports: list[dict[str, Any]]) -> str:
    rows = [
        "| Entries : batch | Run: median (min), at once | Floor: median (min), at once | Repeats | Ratio to floor"
        " | Ratio at the run's concurrency | Entries/s | Containers | Transitions per entry"
        " | Lambda requests / GB-s | DynamoDB writes | Cost on AWS | summary.json's cost (off the model) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in reports:
        run, floor = r["run"], r["floor"]
        ratio = r["ratio_to_floor"] if r["ratio_to_floor"] != "INVALID" else "INVALID (see below)"
        rows.append(
            f"| {r['entries']:,} : {r['batch_size']:,} | {run['median']} s ({run['min']}), {run['concurrency']} "
            f"| {floor['median']} s ({floor['min']}), {floor['concurrency']} | {run['repeats']} | {ratio} "
            f"| {r['ratio_at_run_concurrency']} | {r['entries_per_second']} | {r['containers']} "
            f"| {r['transitions_per_entry']} | {r['lambda_requests']} / {r['lambda_gb_seconds']} "
            f"| {r['dynamodb_writes']:,} | ${r['aws_cost_usd']['total']} "
            f"| ${r['summary_cost_usd']['total']} ({r['summary_off_model']:+.2%}) |"
        )
    rows.append("\nMedian seconds at each concurrency tried (jobs at once):\n")
    rows.append("| Entries : batch | Run | Floor |")
    rows.append("|---|---|---|")
    for r in reports:
        run, floor = (
            ", ".join(f"{c}: {s['median']} s" for c, s in side["tried"].items()) for side in (r["run"], r["floor"])
        )
        rows.append(f"| {r['entries']:,} : {r['batch_size']:,} | {run} | {floor} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", nargs="+", default=["1000:100", "10000:100", "100000:1000"], metavar="N:BATCH")
    parser.add_argument(
        "--repeats",
        type=int,
        help=f"measurements of each side at each concurrency (default 3 up to {SMALL_RUN_ENTRIES:,} entries, 1 above)",
    )
    parser.add_argument(
        "--concurrency",
        nargs="+",
        type=int,
        default=list(CONCURRENCY),
        metavar="N",
        help="jobs at once to try, for the floor (bare processes) and for the run (MapMaxConcurrency); each side "
        "is taken at its fastest median (default %(default)s)",
    )
    parser.add_argument(
        "--sweep-large",
        action="store_true",
        help=f"measure requests of more than {SMALL_RUN_ENTRIES:,} entries at every N too (default: at the "
        "fastest N of the largest smaller request)",
    )
    parser.add_argument("--measure", nargs=5, help=argparse.SUPPRESS)  # KIND ENTRIES BATCH CONCURRENCY OUT: measured()
    args = parser.parse_args()
    if args.measure:
        kind, entries, batch_size, concurrency, out = args.measure
        result = MEASURES[kind](int(entries), int(batch_size), int(concurrency))
        Path(out).write_text(json.dumps(result))
        return
    reports: list[dict[str, Any]] = []
    for run in args.runs:
        entries, batch_size = (int(x) for x in run.split(":"))
        repeats = args.repeats or (3 if entries <= SMALL_RUN_ENTRIES else 1)
        concurrency, chosen_by = args.concurrency, ""
        if entries > SMALL_RUN_ENTRIES and reports and not args.sweep_large:
            # A large request's measurement takes minutes: it is measured at the N where each side of
            # the largest smaller request was fastest, rather than at every N.
            before = max(reports, key=lambda r: r["entries"])
            concurrency = sorted({before["run"]["concurrency"], before["floor"]["concurrency"]})
            chosen_by = f"tried at {concurrency} only: the fastest N of the run and of the floor at " + (
                f"{before['entries']:,} : {before['batch_size']:,} (--sweep-large tries every N)"
            )
        report = benchmark(entries, batch_size, repeats, concurrency)
        if chosen_by:
            report["notes"].insert(0, chosen_by)
        print(json.dumps(report), flush=True)
        reports.append(report)
    print(
        f"\nMeasured {time.strftime('%Y-%m-%d')} at commit {git_commit()}: {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, moto {moto_version}\n{table(reports)}"
    )
    for r in reports:
        for text in [r.get("invalid_because", ""), *r["notes"]]:
            if text:
                print(f"{r['entries']:,} : {r['batch_size']:,}: {text}")


def git_commit() -> str:
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}  # git status would otherwise refresh the index: read only
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, env=env)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, env=env
    )
    return done.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


if __name__ == "__main__":
    main()
