"""A run's cost at list prices (prices.py), for its summary: what its functions used (usage.py,
summed from the audit items), the state transitions of its executions, and the Fargate time of
its jobs from Batch's record of each attempt's start and stop.

Transitions are counted by the path each execution took (the states a history shows entered; a
test holds these counts to the histories): a function cannot read its own execution's history,
and reading every child's would cost the run a request per batch.
"""

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from prices import FARGATE_MINIMUM_SECONDS, PRICES, PRICES_REGION
from run_jobs import UNFINISHED
from usage import ATTRIBUTES

# The parent's states entered: Prepare run, Request valid?, Run batches, Finish run, Run failed?,
# and Run succeeded or Fail run. A run the terminator ends was stopped in Run batches (its first 3).
PARENT_TRANSITIONS = {"finished": 6, "terminated": 3}
# The nested state machine of the full path (statemachines/callback-notify.asl.json): Wait, Notify.
NESTED_TRANSITIONS = 2
DESCRIBE_JOBS_MAX = 100  # Batch's DescribeJobs takes up to 100 job ids


def child_transitions(batch: dict[str, Any]) -> int:
    """The states a batch's child execution entered, from its state as the Account function gets it
    (Which path?, Run job and Account; Job went silent after a heartbeat timeout; the full path's
    array job, nested execution and its states). A child whose full path failed early is counted
    as if it had gone on."""
    batch_input = batch.get("BatchInput") or {}
    entered = 3 + (1 if "heartbeat" in batch else 0)
    if batch_input.get("patterns") == "full":
        entered += 1 + NESTED_TRANSITIONS
        if (batch_input.get("settings") or {}).get("arrayJobSize", 0) >= 2:
            entered += 1
    return entered


def usage_of(items: Iterable[dict[str, Any]]) -> Counter[str]:
    """The usage the audit items (DynamoDB's typed attributes) accumulated."""
    total: Counter[str] = Counter()
    for item in items:
        for name in ATTRIBUTES:
            if name in item:
                total[name] += int(item[name]["N"])
    return total


@dataclass(frozen=True)
class Fargate:
    tasks: int
    vcpu_seconds: float
    gb_seconds: float
    still_running: int


def fargate_of(batch: Any, job_ids: Iterable[str], now_ms: int) -> Fargate:
    """Every attempt of the jobs (an array job's children in its place) billed from its start to its
    stop, a minute at least; a job still running (it reported and is exiting) until now. Batch's
    start is the container's: the image pull before it, also billed on AWS, is not in these times."""
    pending, tasks, running, vcpu_seconds, gb_seconds = list(job_ids), 0, 0, 0.0, 0.0
    while pending:
        chunk, pending = pending[:DESCRIBE_JOBS_MAX], pending[DESCRIBE_JOBS_MAX:]
        for job in batch.describe_jobs(jobs=chunk)["jobs"]:
            size = (job.get("arrayProperties") or {}).get("size")
            if size:  # an array job's parent runs nothing itself
                pending += [f"{job['jobId']}:{index}" for index in range(size)]
                continue
            spans = [(a["startedAt"], a["stoppedAt"]) for a in job.get("attempts", []) if a.get("stoppedAt")]
            if job["status"] in UNFINISHED and job.get("startedAt"):
                spans.append((job["startedAt"], now_ms))
                running += 1
            seconds = sum(max(FARGATE_MINIMUM_SECONDS, math.ceil((stop - start) / 1000)) for start, stop in spans)
            vcpu, gb = resources_of(job)
            tasks += len(spans)
            vcpu_seconds += seconds * vcpu
            gb_seconds += seconds * gb
    return Fargate(tasks, vcpu_seconds, gb_seconds, running)


def resources_of(job: dict[str, Any]) -> tuple[float, float]:
    """The job's vCPUs and GB of memory (its resourceRequirements; MEMORY is in MiB)."""
    wanted = {r["type"]: float(r["value"]) for r in (job.get("container") or {}).get("resourceRequirements", [])}
    return wanted.get("VCPU", 0.0), wanted.get("MEMORY", 0.0) / 1024


def cost_of(usage: Counter[str], fargate: Fargate) -> dict[str, Any]:
    """The run's cost by part, in USD, with the usage and the prices it comes from."""
    lambda_gb_seconds = usage["lambdaMbMs"] / 1024 / 1000
    parts = {
        "Step Functions": usage["transitions"] * PRICES["state_transition"],
        "Lambda": usage["lambdaRequests"] * PRICES["lambda_request"] + lambda_gb_seconds * PRICES["lambda_gb_second"],
        "Fargate": fargate.vcpu_seconds * PRICES["fargate_vcpu_second"]
        + fargate.gb_seconds * PRICES["fargate_gb_second"],
        "S3": usage["s3PutList"] * PRICES["s3_put_list_request"] + usage["s3Get"] * PRICES["s3_get_request"],
        "DynamoDB": usage["dynamodbWrites"] * PRICES["dynamodb_write_unit"]
        + usage["dynamodbReads"] * PRICES["dynamodb_read_unit"],
    }
    return {
        "currency": "USD",
        "total": round(sum(parts.values()), 6),
        "parts": {name: round(value, 6) for name, value in parts.items()},
        "usage": {
            "stateTransitions": usage["transitions"],
            "lambdaRequests": usage["lambdaRequests"],
            "lambdaGbSeconds": round(lambda_gb_seconds, 3),
            "fargateTasks": fargate.tasks,
            "fargateVcpuSeconds": round(fargate.vcpu_seconds, 1),
            "fargateGbSeconds": round(fargate.gb_seconds, 1),
            "fargateTasksStillRunning": fargate.still_running,
            "s3PutListRequests": usage["s3PutList"],
            "s3GetRequests": usage["s3Get"],
            "dynamodbWriteUnits": usage["dynamodbWrites"],
            "dynamodbReadUnits": usage["dynamodbReads"],
        },
        "prices": {"region": PRICES_REGION, **{name: f"{value:.10g}" for name, value in PRICES.items()}},
    }


def job_requests(output_files: int, attempt: int) -> Counter[str]:
    """The requests a batch's job made, at each attempt that reported: the job script (GetObject, the
    job definition's command), its token (GetItem), its plan (GetObject), its report and its entries'
    output files (PutObject each). The sample command's download, and the requests the entries'
    command makes itself, are not counted."""
    return Counter({"dynamodbReads": attempt, "s3Get": 2 * attempt, "s3PutList": attempt + output_files})


def map_requests(succeeded_batches: bool, failed_batches: bool) -> Counter[str]:
    """The S3 requests of the Distributed Map itself: its ItemReader's GetObject of the entries file
    (one; Step Functions may read a large file in ranges), its ResultWriter's manifest and a results
    file for each outcome (SUCCEEDED, FAILED: more for over 5 GB of results)."""
    return Counter({"s3Get": 1, "s3PutList": 1 + succeeded_batches + failed_batches})
