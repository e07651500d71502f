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


def problems(parameters: dict[str, str]) -> list[str]:
    heartbeat = int(parameters["JobHeartbeatSeconds"])
    callback = int(parameters["JobCallbackTimeoutSeconds"])
    concurrency = int(parameters["MapMaxConcurrency"])
    room = int(float(parameters["MaxVcpus"]) / float(parameters["JobVcpu"]))
    # A batch of the full path first runs its array job (0 or 1 leaves it out), whose children run
    # at once, then its other jobs one at a time.
    array = int(parameters["ArrayJobSize"]) if parameters["Patterns"] == "full" else 0
    found = []
    if heartbeat >= callback:
        found.append(
            f"JobHeartbeatSeconds ({heartbeat}) must be less than JobCallbackTimeoutSeconds ({callback}): "
            "Step Functions requires a task's heartbeat to be shorter than its timeout"
        )
    waiting = (
        "the jobs of the batches past it would wait in the queue, and a job that waits longer than "
        "JobHeartbeatSeconds before its first heartbeat fails its batch"
    )
    if array > 1:
        if concurrency > room // array:
            found.append(
                f"MapMaxConcurrency ({concurrency}) must be at most MaxVcpus / JobVcpu / ArrayJobSize "
                f"({parameters['MaxVcpus']} / {parameters['JobVcpu']} / {array} = {room // array}) with "
                f"Patterns full: each batch's array job runs {array} jobs at once; {waiting}"
            )
    elif concurrency > room:
        found.append(
            f"MapMaxConcurrency ({concurrency}) must be at most MaxVcpus / JobVcpu ({parameters['MaxVcpus']} / "
            f"{parameters['JobVcpu']} = {room}): {waiting}"
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
