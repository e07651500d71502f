"""EventBridge: delivery to Lambda targets, and the Step Functions events AWS emits."""

import copy
import logging
from typing import Any

from local_emulator import service_events
from local_emulator.patches.registry import Patcher, patch

LOG = logging.getLogger(__name__)
MOTO = "5.2.5"


@patch(
    service="events",
    defect="rules deliver only to logs, SQS, archives and event buses: a Lambda target is never invoked",
    aws="a rule invokes its Lambda targets asynchronously with the matched event",
    reference="https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-targets.html",
    seen_in=MOTO,
)
def eventbridge_rules_invoke_lambda_targets(patcher: Patcher, emulator: Any) -> None:
    from moto.events.models import Rule
    from moto.utilities.arns import parse_arn

    send = Rule.send_to_targets

    def send_to_targets(rule: Rule, original_event: dict[str, Any], transform_input: bool = True) -> None:
        functions = [t for t in rule.targets if parse_arn(t["Arn"]).service == "lambda"]
        if functions and rule.event_pattern.matches_event(original_event):
            for target in functions:
                service_events.invoke_function(target["Arn"], original_event, rule.arn)
        others = [t for t in rule.targets if t not in functions]
        if others:
            other_rule = copy.copy(rule)
            other_rule.targets = others
            send(other_rule, original_event, transform_input)

    patcher.replace(Rule, "send_to_targets", send_to_targets)


@patch(
    service="events",
    defect="the Step Functions engine emits no 'Step Functions Execution Status Change' event when an execution ends",
    aws="every status change of a Standard execution is sent to the default event bus (source aws.states)",
    reference="https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html",
    seen_in=MOTO,
)
def executions_announce_their_end(patcher: Patcher, emulator: Any) -> None:
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

    terminated = BaseExecutionWorkerCommunication.terminated

    def terminated_and_announced(communication: BaseExecutionWorkerCommunication) -> None:
        terminated(communication)
        try:
            service_events.emit_execution_status_change(communication.execution)
        except Exception:  # announcing must never break the execution's own ending
            LOG.exception("execution status change of %s not emitted", communication.execution.exec_arn)

    patcher.replace(BaseExecutionWorkerCommunication, "terminated", terminated_and_announced)
