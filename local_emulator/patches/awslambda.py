"""Lambda: functions run in warm worker processes instead of Docker containers."""

import base64
import json
from typing import Any

from local_emulator.patches.registry import Patcher, patch


def _request_entity_too_large() -> type:
    from moto.awslambda.exceptions import LambdaClientError

    class RequestEntityTooLargeError(LambdaClientError):
        code = 413

        def __init__(self, message: str) -> None:
            super().__init__("RequestEntityTooLargeException", message)

    return RequestEntityTooLargeError


# Invoke's request payload limits: 6 MB synchronous, 1 MB asynchronous.
PAYLOAD_LIMITS = {"RequestResponse": 6 * 1024 * 1024, "Event": 1024 * 1024}


def _header(headers: Any, name: str) -> str | None:
    for key, value in (headers or {}).items():
        if key.lower() == name:
            return value
    return None


@patch(
    service="awslambda",
    defect="functions run in Docker containers (LambdaFunction.invoke/_invoke_lambda), and no Docker engine runs "
    "here; Event invocations run synchronously, and the invocation-type header is read case-sensitively",
    aws="RequestResponse invocations return the handler's result (FunctionError on an error, with requestId and "
    "the handler's stack; Runtime.MarshalError for a result that is not JSON), and X-Amz-Executed-Version; "
    "Event invocations are accepted with 202, run later and retried per the function's EventInvokeConfig; a "
    "payload over 6 MB (1 MB for Event) is refused with RequestEntityTooLargeException",
    reference="https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html; "
    "https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html; localstack/localstack tests/aws/services/"
    "stepfunctions/v2/error_handling/test_task_service_lambda.snapshot.json::test_raise_exception",
    seen_in="5.2.5",
)
def lambda_functions_run_in_worker_processes(patcher: Patcher, emulator: Any) -> None:
    from moto.awslambda.models import LambdaFunction

    runtime = emulator.lambdas
    RequestEntityTooLargeError = _request_entity_too_large()  # noqa: N806 (an exception class)

    def invoke(function: LambdaFunction, body: str, request_headers: Any, response_headers: Any) -> bytes:
        invocation_type = _header(request_headers, "x-amz-invocation-type") or "RequestResponse"
        limit = PAYLOAD_LIMITS.get(invocation_type, PAYLOAD_LIMITS["RequestResponse"])
        if len(body.encode() if isinstance(body, str) else body or b"") > limit:
            message = f"Request must be smaller than {limit} bytes for the InvokeFunction operation"
            raise RequestEntityTooLargeError(message)
        event = json.loads(body) if body else {}
        if invocation_type == "DryRun":
            return b""
        if invocation_type == "Event":
            runtime.invoke_later(function, event)
            return b""
        payload, errored, logs = runtime.invoke(function, event, "RequestResponse")
        if errored:
            response_headers["x-amz-function-error"] = "Unhandled"
        response_headers["x-amz-log-result"] = base64.b64encode(logs[-4096:].encode()).decode()
        response_headers["x-amz-executed-version"] = str(function.version)
        return payload.encode()

    def invoke_lambda(function: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
        return runtime.invoke(function, event or {}, "RequestResponse")

    patcher.replace(LambdaFunction, "invoke", invoke)
    patcher.replace(LambdaFunction, "_invoke_lambda", invoke_lambda)
