"""EventBridge in the emulator: AWS service events, and their delivery to Lambda functions.

moto's EventBridge matches rules but delivers only to logs, SQS, archives and event buses, and
moto's Batch emits no events. Here a Batch job's state changes are put on the default event bus
as AWS emits them (source aws.batch, detail-type "Batch Job State Change", detail the job's
description), and rules deliver to Lambda targets asynchronously, as EventBridge invokes them.
"""

import copy
import json
import logging
from datetime import UTC, datetime
from typing import Any

LOG = logging.getLogger(__name__)


def install() -> None:
    from moto.events.models import Rule
    from moto.utilities.arns import parse_arn

    send = Rule.send_to_targets

    def send_to_targets(rule: Rule, original_event: dict[str, Any], transform_input: bool = True) -> None:
        functions = [t for t in rule.targets if parse_arn(t["Arn"]).service == "lambda"]
        if functions and rule.event_pattern.matches_event(original_event):
            for target in functions:
                invoke_function(target["Arn"], original_event)
        others = [t for t in rule.targets if t not in functions]
        if others:
            other_rule = copy.copy(rule)
            other_rule.targets = others
            send(other_rule, original_event, transform_input)

    Rule.send_to_targets = send_to_targets


def invoke_function(arn: str, event: dict[str, Any]) -> None:
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


def _iso(moment: Any) -> str:
    if isinstance(moment, int | float):
        return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(moment or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
