"""Ends a run that failed, timed out or was stopped before its last state ("Step Functions Execution
Status Change" of the parent): its unfinished jobs terminated (no Fargate task bills on for a run
nobody waits for), and, unless the finish function already ended it, every entry given one result
and its summary written (run_end.py), so that its failures can be rerun. A run whose request was
refused was never prepared: it has no entries to end."""

import os
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from run_end import batch, dynamodb, end_run, summary_item
from run_jobs import jobs_of, stop_unfinished
from usage import metered

logger = Logger()
tracer = Tracer()

# The run's error when the execution's event names none (StopExecution without an error, say).
ERRORS = {"ABORTED": "States.Aborted", "TIMED_OUT": "States.Timeout", "FAILED": "States.Runtime"}


@logger.inject_lambda_context(correlation_id_path="detail.executionArn")
@tracer.capture_lambda_handler
@metered(dynamodb)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    execution = event["detail"]
    run_id, status = execution["name"], execution["status"]
    reason = f"run {run_id} {status}: its jobs must not outlive it"
    stopped = stop_unfinished(batch, jobs_of(batch, os.environ["JOB_QUEUE"], run_id), reason)
    logger.info("unfinished jobs of an ended run terminated", extra={"run": execution["executionArn"], "jobs": stopped})
    item = summary_item(run_id)
    if item is None:
        return {"terminated": stopped, "report": None}
    failure = {
        "Error": execution.get("error") or ERRORS.get(status, "States.Runtime"),
        "Cause": execution.get("cause") or f"the run's execution {status}",
    }
    run = {"runId": run_id, "total": int(item["total"]["N"])}
    return {"terminated": stopped, "report": end_run(run, failure, status)}
