"""CloudFormation custom resource that checks the relations between the stack's parameters that
CloudFormation's own Rules cannot express (they have no arithmetic), so that a bad combination fails
the deploy with a message naming the parameters, not a job or an execution hours later.

It uses only the standard library: a custom resource that cannot import blocks every deploy.
"""

import json
import logging
import urllib.request
from typing import Any

logger = logging.getLogger()
logger.setLevel(logging.INFO)

# The child's own bounds (statemachines/sync-nested.asl.json; a test keeps these in step): its
# acknowledgement waits 360 s and is retried once; its nested execution is given NestedWaitSeconds
# plus 780 s; its array job and its job's callback JobCallbackTimeoutSeconds each.
ACKNOWLEDGEMENT_SECONDS = 2 * 360 + 1
NESTED_EXTRA_SECONDS = 780
MARGIN_SECONDS = 300  # transitions, retries of throttled calls, and slack


def problems(parameters: dict[str, str]) -> list[str]:
    heartbeat = int(parameters["JobHeartbeatSeconds"])
    callback = int(parameters["JobCallbackTimeoutSeconds"])
    nested = int(parameters["NestedWaitSeconds"])
    array_job = callback if int(parameters["ArrayJobSize"]) >= 2 else 0
    child_timeout = int(parameters["ChildTimeoutSeconds"])
    found = []
    if heartbeat >= callback:
        found.append(
            f"JobHeartbeatSeconds ({heartbeat}) must be less than JobCallbackTimeoutSeconds ({callback}): "
            "Step Functions requires a task's heartbeat to be shorter than its timeout"
        )
    worst = ACKNOWLEDGEMENT_SECONDS + nested + NESTED_EXTRA_SECONDS + array_job + callback + MARGIN_SECONDS
    if child_timeout < worst:
        found.append(
            f"ChildTimeoutSeconds ({child_timeout}) must be at least {worst}: a child may take that long with "
            f"JobCallbackTimeoutSeconds {callback}, NestedWaitSeconds {nested} and ArrayJobSize "
            f"{parameters['ArrayJobSize']} (acknowledgement {ACKNOWLEDGEMENT_SECONDS} s, nested execution "
            f"NestedWaitSeconds + {NESTED_EXTRA_SECONDS} s, array job and job callback JobCallbackTimeoutSeconds "
            f"each, {MARGIN_SECONDS} s of margin)"
        )
    return found


def respond(event: dict[str, Any], status: str, reason: str) -> None:
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:1000],
            "PhysicalResourceId": event.get("PhysicalResourceId") or event["LogicalResourceId"],
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "Data": {},
        }
    ).encode()
    # The pre-signed URL comes from CloudFormation itself.
    request = urllib.request.Request(event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": ""})  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        logger.info("CloudFormation answered %s", response.status)


def handler(event: dict[str, Any], context: Any) -> None:
    logger.info("%s %s", event.get("RequestType"), event.get("LogicalResourceId"))
    if event["RequestType"] == "Delete":  # nothing was created: deleting never fails
        respond(event, "SUCCESS", "ok")
        return
    try:
        found = problems(event["ResourceProperties"])
    except Exception as exc:  # any failure must reach CloudFormation, or the stack waits out ServiceTimeout
        logger.exception("parameter check failed")
        found = [f"the parameter check failed: {type(exc).__name__}: {exc}"]
    respond(event, "FAILED" if found else "SUCCESS", "; ".join(found) or "ok")
