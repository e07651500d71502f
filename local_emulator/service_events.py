"""EventBridge in the emulator: AWS service events, and their delivery to Lambda functions.

moto's EventBridge matches rules but delivers only to logs, SQS, archives and event buses, and
neither moto's Batch nor its Step Functions engine emits events. Here they are put on the
default event bus as AWS emits them: a Batch job's state changes (source aws.batch,
"Batch Job State Change", detail the job's description) and the end of an execution (source
aws.states, "Step Functions Execution Status Change"); rules deliver to Lambda targets
asynchronously, as EventBridge invokes them.
"""

import json
import logging
from datetime import UTC, datetime
from typing import Any

LOG = logging.getLogger(__name__)


def invoke_function(arn: str, event: dict[str, Any], source_arn: str | None = None) -> None:
    """Invoke the function ARN with EVENT asynchronously, as a rule (SOURCE_ARN) delivers it."""
    from moto.awslambda.models import lambda_backends
    from moto.utilities.arns import parse_arn

    parsed = parse_arn(arn)
    delivered = {**event, "time": _iso(event.get("time"))}
    delivered.pop("ingestion-time", None)
    try:
        function = lambda_backends[parsed.account][parsed.region].get_function(arn)
        function.invoke(json.dumps(delivered, default=str), {"x-amz-invocation-type": "Event"}, {})
    except Exception:  # a delivery failure must not break the job that changed state
        LOG.exception("event %s could not be delivered to %s", event.get("id"), arn)


def emit_batch_job_state_change(job: Any) -> None:
    from moto.events.models import events_backends

    if job._child_jobs:  # an array job's own changes are not needed here; its children's are
        return
    detail = job.describe()
    events_backends[job.backend.account_id][job.backend.region_name].put_events(
        [
            {
                "Source": "aws.batch",
                "DetailType": "Batch Job State Change",
                "Detail": json.dumps(detail, default=str),
                "Resources": [job.arn],
            }
        ]
    )


def emit_execution_status_change(execution: Any) -> None:
    from moto.events.models import events_backends

    def millis(moment: Any) -> int | None:
        return int(moment.timestamp() * 1000) if moment else None

    detail = {
        "executionArn": execution.exec_arn,
        "stateMachineArn": execution.state_machine_arn,
        "name": execution.name,
        "status": execution.status,
        "startDate": millis(execution.start_date),
        "stopDate": millis(execution.stop_date),
        "error": execution.error,
        "cause": execution.cause,
    }
    events_backends[execution.account_id][execution.region_name].put_events(
        [
            {
                "Source": "aws.states",
                "DetailType": "Step Functions Execution Status Change",
                "Detail": json.dumps(detail, default=str),
                "Resources": [execution.exec_arn],
            }
        ]
    )


def _iso(moment: Any) -> str:
    if isinstance(moment, int | float):
        return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(moment or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
