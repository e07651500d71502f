"""Benchmark: the terminator against a run's worth of queued jobs, through the emulator, at Batch's
request rates (50 a second for each API, as the emulator enforces them).

    .venv/bin/python -m bench.terminate_benchmark --jobs 10000

One emulator and one stack. Its compute environment is DISABLED, so that every job stays RUNNABLE,
as the jobs of a large run wait for room; JOBS jobs are submitted through the API as the submit
function submits them (named `run-<run>-b<first>`, tagged with the stack), then TerminateRunJobsFunction
is invoked with the event of the run's parent having FAILED. It prints one JSON document: the jobs,
the seconds the submissions and the termination took, the calls Batch throttled on the way, and
whether every job ended FAILED with the terminator's reason.

A RUNNABLE job's thread looks for room in its compute environment every `--poll-seconds`
(batch_runtime.POLL_SECONDS, 0.05 s in a run): at that pace a few thousand waiting jobs take the
emulator's every CPU (1,650 of them had slowed submissions from 51 to about 7 a second), so the
benchmark waits a second. A terminated job is seen FAILED within that much.
"""

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from local_emulator import batch_runtime
from local_emulator.deploy import deploy
from local_emulator.patches import batch as batch_patches
from local_emulator.server import ACCOUNT_ID, REGION, Emulator, free_port

ROOT = Path(__file__).resolve().parents[1]
RUN_ID = "bench-terminate"
BATCH_SIZE = 100  # the template's default: a job's name carries its batch's first entry
JOB_TAG = "sfn-batch-orchestrator:stack"  # functions/runs/submit.py
SUBMITTERS = 8  # callers at once, as many submit functions would be
# As the functions' clients retry (functions/runs/shared.py), with room for a long wait for a token.
RETRYING = Config(retries={"mode": "standard", "total_max_attempts": 10}, read_timeout=1000)


def run_ended(machine_arn: str, run_id: str, status: str = "FAILED") -> dict[str, Any]:
    """The event EventBridge delivers when the run's parent execution ended (the terminator's rule)."""
    arn = machine_arn.replace(":stateMachine:", ":execution:") + f":{run_id}"
    return {
        "version": "0",
        "id": "bench",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": ACCOUNT_ID,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": REGION,
        "resources": [arn],
        "detail": {"executionArn": arn, "stateMachineArn": machine_arn, "name": run_id, "status": status},
    }


def run_jobs(batch: Any, queue: str, run_id: str) -> list[dict[str, Any]]:
    pages = batch.get_paginator("list_jobs").paginate(
        jobQueue=queue, filters=[{"name": "JOB_NAME", "values": [f"run-{run_id}-*"]}]
    )
    return [job for page in pages for job in page["jobSummaryList"]]


def wait_for(check: Any, seconds: float, what: str) -> float:
    """Seconds until CHECK holds (polled twice a second); raises past SECONDS."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > seconds:
            raise TimeoutError(f"{what} after {seconds:.0f} s")
        time.sleep(0.5)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--poll-seconds", type=float, default=1.0)
    args = parser.parse_args()
    batch_runtime.POLL_SECONDS = args.poll_seconds
    with Emulator(port=free_port()) as emulator:
        stack = deploy(emulator.endpoint_url, ROOT / "template.yaml", {}, stack_name="bench-terminate")
        batch = boto3.client("batch", endpoint_url=emulator.endpoint_url, config=RETRYING)
        lam = boto3.client("lambda", endpoint_url=emulator.endpoint_url, config=RETRYING)
        queue, definition = stack.outputs["JobQueueArn"], stack.outputs["JobDefinitionArn"]
        [described] = batch.describe_job_queues(jobQueues=[queue])["jobQueues"]
        environment = described["computeEnvironmentOrder"][0]["computeEnvironment"]
        batch.update_compute_environment(computeEnvironment=environment, state="DISABLED")
        rates = batch_patches.RATES

        # The jobs carry the definition's parameters (no task reference): their FAILED events then reach
        # no function (the job-event rule matches only jobs with one), and the terminator is measured alone.
        def submit(index: int) -> None:
            batch.submit_job(
                jobName=f"run-{RUN_ID}-b{index * BATCH_SIZE}",
                jobQueue=queue,
                jobDefinition=definition,
                tags={JOB_TAG: stack.name},
            )

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=SUBMITTERS) as pool:
            list(pool.map(submit, range(args.jobs)))
        submit_seconds = time.monotonic() - started
        wait_for(
            lambda: sum(j["status"] == "RUNNABLE" for j in run_jobs(batch, queue, RUN_ID)) == args.jobs,
            600,
            "the jobs were not all RUNNABLE",
        )
        throttled_before = dict(rates.throttled)

        reason = f"run {RUN_ID} FAILED: its jobs must not outlive it"  # functions/runs/terminate.py
        event = run_ended(stack.outputs["OrchestratorStateMachineArn"], RUN_ID)
        started = time.monotonic()
        response = lam.invoke(
            FunctionName=stack.outputs["TerminateRunJobsFunctionName"], Payload=json.dumps(event).encode()
        )
        invoke_seconds = time.monotonic() - started
        result = json.loads(response["Payload"].read())
        if response.get("FunctionError"):
            raise RuntimeError(f"the terminator failed: {json.dumps(result)[:1000]}")
        ended = wait_for(
            lambda: all(j["status"] == "FAILED" for j in run_jobs(batch, queue, RUN_ID)),
            600,
            "the jobs had not all ended",
        )
        throttled = {api: n - throttled_before.get(api, 0) for api, n in rates.throttled.items()}
        jobs = run_jobs(batch, queue, RUN_ID)
        print(
            json.dumps(
                {
                    "jobs": args.jobs,
                    "poll_seconds": args.poll_seconds,
                    "submit_seconds": round(submit_seconds, 1),
                    "submit_job_throttled": throttled_before.get("SubmitJob", 0),
                    "terminated_by_function": len(result["terminated"]),
                    "terminate_invocation_seconds": round(invoke_seconds, 1),
                    "seconds_until_all_failed": round(invoke_seconds + ended, 1),
                    "terminate_calls_per_second": round(len(result["terminated"]) / invoke_seconds, 1),
                    "throttled_while_terminating": {api: n for api, n in throttled.items() if n},
                    "all_failed_with_reason": len(jobs) == args.jobs
                    and all(j["status"] == "FAILED" and j.get("statusReason") == reason for j in jobs),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
