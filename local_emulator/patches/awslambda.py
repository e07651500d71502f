"""Lambda: functions run in warm worker processes instead of Docker containers."""

import base64
import json
import logging
from typing import Any

from local_emulator.lambda_runtime import DESCRIPTORS, private_tmp_refusal
from local_emulator.patches.registry import Patcher, patch

LOG = logging.getLogger(__name__)


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


@patch(
    service="awslambda",
    defect="a function's /tmp is not its own: its handler writes to the host's /tmp, shared with every function "
    "and the host, without bound (and moto's Docker runs bound it by nothing either); UpdateFunctionConfiguration "
    "and CloudFormation leave EphemeralStorage out (LambdaFunction.update_configuration, "
    "create_from_cloudformation_json)",
    aws="each execution environment has a /tmp of its own of EphemeralStorage.Size MB (512 unless set), empty when "
    "it starts, kept across its warm invocations and shared with no other; a write past it fails with [Errno 28] "
    "No space left on device",
    reference="https://docs.aws.amazon.com/lambda/latest/api/API_EphemeralStorage.html; "
    "https://aws.amazon.com/blogs/compute/using-larger-ephemeral-storage-for-aws-lambda/; "
    "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-lambda-function-ephemeralstorage.html",
    seen_in="5.2.5",
)
def lambda_tmp_is_the_functions_ephemeral_storage(patcher: Patcher, emulator: Any) -> None:
    from moto.awslambda.models import LambdaFunction

    refusal = private_tmp_refusal()
    if refusal:
        # Failing here would stop every local run where the worker cannot have a mount namespace
        # (a user without user namespaces, a container without CAP_SYS_ADMIN): the limit goes, loudly.
        LOG.warning(
            "WARNING: this machine gives Lambda workers no /tmp of their own (%s): functions write to the host's "
            "/tmp, and their EphemeralStorage is NOT enforced (see docs/local-emulator.md)",
            refusal,
        )
    else:
        patcher.replace(emulator.lambdas, "private_tmp", True)

    update = LambdaFunction.update_configuration

    def update_configuration(function: LambdaFunction, config_updates: dict[str, Any]) -> dict[str, Any]:
        if "EphemeralStorage" in config_updates:
            function.ephemeral_storage = int(config_updates["EphemeralStorage"]["Size"])
        return update(function, config_updates)

    create = LambdaFunction.create_from_cloudformation_json.__func__

    def with_ephemeral_storage(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs):
        function = create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        storage = cloudformation_json["Properties"].get("EphemeralStorage")
        if storage:
            function.ephemeral_storage = int(storage["Size"])
        return function

    patcher.replace(LambdaFunction, "update_configuration", update_configuration)
    patcher.replace(LambdaFunction, "create_from_cloudformation_json", classmethod(with_ephemeral_storage))


@patch(
    service="awslambda",
    defect="a handler may use any amount of memory (moto bounds only its Docker containers, by mem_limit)",
    aws="an execution environment that passes the function's MemorySize is killed: Invoke answers FunctionError "
    "Unhandled with {errorType: Runtime.OutOfMemory, errorMessage: 'RequestId: <id> Error: Runtime exited with "
    "error: signal: killed'}, the REPORT line says Status: error, Error Type: Runtime.OutOfMemory, and the next "
    "invocation starts a new execution environment",
    reference="https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html; recorded: "
    "DataDog/datadog-lambda-extension issue #1237 (REPORT ... Max Memory Used equal to Memory Size), "
    "getsentry/sentry-python issue #4013 (the process is killed, nothing in it runs)",
    seen_in="5.2.5",
)
def lambda_memory_size_is_enforced(patcher: Patcher, emulator: Any) -> None:
    patcher.replace(emulator.lambdas, "memory_limited", True)


@patch(
    service="awslambda",
    defect="a handler may open as many file descriptors as the emulator's own limit allows",
    aws="an execution environment has 1,024 file descriptors: opening one more fails with [Errno 24] Too many "
    "open files",
    reference="https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html",
    seen_in="5.2.5",
)
def lambda_file_descriptors_are_limited(patcher: Patcher, emulator: Any) -> None:
    patcher.replace(emulator.lambdas, "descriptor_limit", DESCRIPTORS)


# Lambda measures a function's variables as compact JSON, and refuses more than 4 KB.
MAX_ENVIRONMENT_BYTES = 4096


def _environment_refusal(variables: dict[str, Any] | None) -> Exception | None:
    from moto.awslambda.exceptions import InvalidParameterValueException

    measured = json.dumps(variables or {}, separators=(",", ":"))
    if len(measured.encode()) <= MAX_ENVIRONMENT_BYTES:
        return None
    return InvalidParameterValueException(
        "Lambda was unable to configure your environment variables because the environment variables you have "
        f"provided exceeded the 4KB limit. String measured: {measured}"
    )


@patch(
    service="awslambda",
    defect="CreateFunction and UpdateFunctionConfiguration accept environment variables of any size",
    aws="more than 4 KB of environment variables (the compact JSON of the map) is refused with "
    "InvalidParameterValueException 'Lambda was unable to configure your environment variables because the "
    "environment variables you have provided exceeded the 4KB limit. String measured: <the JSON>', and a stack "
    "with such a function fails",
    reference="https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html; recorded: "
    "github-aws-runners/terraform-aws-github-runner issue #3594 (the message, with the compact JSON measured); "
    "localstack/localstack localstack-core/localstack/services/lambda_/provider.py::_verify_env_variables",
    seen_in="5.2.5",
)
def lambda_environment_is_limited_to_4_kb(patcher: Patcher, emulator: Any) -> None:
    from moto.awslambda.models import LambdaBackend, LambdaFunction

    create_function = LambdaBackend.create_function

    def create(backend: LambdaBackend, spec: dict[str, Any]) -> LambdaFunction:
        refusal = _environment_refusal((spec.get("Environment") or {}).get("Variables"))
        if refusal is not None:
            raise refusal
        return create_function(backend, spec)

    update = LambdaFunction.update_configuration

    def update_configuration(function: LambdaFunction, config_updates: dict[str, Any]) -> dict[str, Any]:
        if "Environment" in config_updates:
            refusal = _environment_refusal((config_updates["Environment"] or {}).get("Variables"))
            if refusal is not None:
                raise refusal
        return update(function, config_updates)

    patcher.replace(LambdaBackend, "create_function", create)
    patcher.replace(LambdaFunction, "update_configuration", update_configuration)
