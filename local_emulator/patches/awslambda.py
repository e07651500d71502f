"""Lambda: functions run in warm worker processes instead of Docker containers."""

import base64
import json
from typing import Any

from local_emulator.patches.registry import Patcher, patch


def _header(headers: Any, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None


@patch(
    service="awslambda",
    defect="functions run in Docker containers (LambdaFunction.invoke/_invoke_lambda), and no Docker engine runs "
    "here; Event invocations run synchronously, and the invocation-type header is read case-sensitively",
    aws="RequestResponse invocations return the handler's result (FunctionError on an error); Event "
    "invocations are accepted with 202, run later and retried per the function's EventInvokeConfig",
    reference="https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html",
    seen_in="5.2.5",
)
def lambda_functions_run_in_worker_processes(patcher: Patcher, emulator: Any) -> None:
    from moto.awslambda.models import LambdaFunction

    runtime = emulator.lambdas

    def invoke(function: LambdaFunction, body: str, request_headers: Any, response_headers: Any) -> bytes:
        event = json.loads(body) if body else {}
        invocation_type = _header(request_headers, "x-amz-invocation-type") or "RequestResponse"
        if invocation_type == "DryRun":
            return b""
        if invocation_type == "Event":
            runtime.invoke_later(function, event)
            return b""
        payload, errored, logs = runtime.invoke(function, event, "RequestResponse")
        if errored:
            response_headers["x-amz-function-error"] = "Unhandled"
        response_headers["x-amz-log-result"] = base64.b64encode(logs[-4096:].encode()).decode()
        return payload.encode()

    def invoke_lambda(function: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
        return runtime.invoke(function, event or {}, "RequestResponse")

    patcher.replace(LambdaFunction, "invoke", invoke)
    patcher.replace(LambdaFunction, "_invoke_lambda", invoke_lambda)
