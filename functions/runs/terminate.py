"""Terminates the unfinished jobs of a run that failed, timed out or was stopped ("Step Functions
Execution Status Change" of the parent), so that no Fargate task bills on for a run nobody waits
for. A run that reaches its end has its jobs stopped by the finish function; this covers the runs
that never get there (stopped by hand, timed out, failed in a state of their own)."""

import os
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from run_jobs import stop_unfinished
from shared import client

logger = Logger()
tracer = Tracer()
batch = client("batch")


@logger.inject_lambda_context(correlation_id_path="detail.executionArn")
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    run = event["detail"]
    reason = f"run {run['name']} {run['status']}: its jobs must not outlive it"
    stopped = stop_unfinished(batch, os.environ["JOB_QUEUE"], run["name"], reason)
    logger.info("unfinished jobs of an ended run terminated", extra={"run": run["executionArn"], "jobs": stopped})
    return {"terminated": stopped}
