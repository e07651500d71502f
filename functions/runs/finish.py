"""Ends a run that reached its last state: every entry accounted for exactly once, the run's status
decided, its summary kept (run_end.py). The run fails when its Map failed; otherwise it succeeds,
failed entries within the tolerance included."""

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.typing import LambdaContext
from run_end import dynamodb, end_run
from usage import metered

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metered(dynamodb)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return end_run(event["run"], event.get("failure"))
