"""Step Functions: defects of moto's ASL interpreter (a port of LocalStack's) and of its API layer."""

import functools
import logging
import time
from typing import Any

from local_emulator.patches.registry import Patcher, patch

LOG = logging.getLogger(__name__)
MOTO = "5.2.5"
ERROR_HANDLING = "https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html"
QUOTAS = "https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html"
# Recordings of real AWS: LocalStack's Step Functions snapshot tests.
RECORDED = "localstack/localstack tests/aws/services/stepfunctions"


@patch(
    service="stepfunctions",
    defect="SendTaskFailure drops the request's cause: the task fails with the error only",
    aws="the task fails with the error and the cause given to SendTaskFailure",
    reference="https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskFailure.html",
    seen_in=MOTO,
)
def send_task_failure_keeps_cause(patcher: Patcher, emulator: Any) -> None:
    from moto.core.responses import EmptyResult
    from moto.stepfunctions.responses import StepFunctionResponse

    def send_task_failure(self: StepFunctionResponse) -> EmptyResult:
        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
        )
        return EmptyResult()

    patcher.replace(StepFunctionResponse, "send_task_failure", send_task_failure)


def _integration_classes() -> tuple[type, ...]:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (
        StateTaskServiceAwsSdk,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_batch import (
        StateTaskServiceBatch,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
        StateTaskServiceSfn,
    )

    return StateTaskServiceSfn, StateTaskServiceBatch, StateTaskServiceAwsSdk


@patch(
    service="stepfunctions",
    defect="states:startExecution(.sync/.sync:2), batch:submitJob(.sync) and aws-sdk integrations of services "
    "whose API members are camelCase (aws-sdk:sfn:describeExecution) fail: ASL's PascalCase parameters reach "
    "boto3 unchanged (_normalise_parameters/_normalise_response are no-ops)",
    aws="integrations take the API's members in PascalCase and return the response in PascalCase, timestamps "
    "as epoch milliseconds",
    reference=f"https://docs.aws.amazon.com/step-functions/latest/dg/connect-stepfunctions.html; {RECORDED} "
    "(test_callback.snapshot.json::test_start_execution_sync)",
    seen_in=MOTO,
    upstream="https://github.com/getmoto/moto/issues/10076",
)
def service_integrations_use_api_member_names(patcher: Patcher, emulator: Any) -> None:
    import datetime

    import botocore.session
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
        StateTaskService,
    )
    from moto.stepfunctions.parser.utils import camel_to_snake_case

    normalised = _integration_classes()  # the others (sqs, for one) already send API names

    @functools.cache
    def session() -> Any:  # made at the first integration, not at each install (unit tests install per test)
        return botocore.session.get_session()

    @functools.cache
    def operation(service: str, action: str) -> Any:
        model = session().get_service_model(service)
        return model.operation_model({camel_to_snake_case(n): n for n in model.operation_names}[action])

    def shapes(task: StateTaskService, service: str | None, action: str | None) -> Any:
        return operation(task._get_boto_service_name(service), task._get_boto_service_action(action))

    def normalise_parameters(self, parameters, boto_service_name=None, service_action_name=None):
        if isinstance(self, normalised):
            self._to_boto_request(parameters, shapes(self, boto_service_name, service_action_name).input_shape)

    def normalise_response(self, response, boto_service_name=None, service_action_name=None):
        if isinstance(self, normalised):
            self._from_boto_response(response, shapes(self, boto_service_name, service_action_name).output_shape)

    plain_value = StateTaskService._from_boto_response_value

    def response_value(value):
        if isinstance(value, datetime.datetime):
            return int(value.timestamp() * 1000)
        return plain_value(value)

    patcher.replace(StateTaskService, "_normalise_parameters", normalise_parameters)
    patcher.replace(StateTaskService, "_normalise_response", normalise_response)
    patcher.replace(StateTaskService, "_from_boto_response_value", staticmethod(response_value))


@patch(
    service="stepfunctions",
    defect="executions started without a name are all named 'None': the second one collides or is merged",
    aws="StartExecution without a name gives the execution a unique generated name (a UUID)",
    reference="https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html",
    seen_in=MOTO,
)
def unnamed_executions_get_unique_names(patcher: Patcher, emulator: Any) -> None:
    import uuid

    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    start = StepFunctionsParserBackend.start_execution

    def start_execution(self, state_machine_arn, name=None, execution_input=None, trace_header=None):
        return start(self, state_machine_arn, name or str(uuid.uuid4()), execution_input, trace_header)

    patcher.replace(StepFunctionsParserBackend, "start_execution", start_execution)


def _execution_details(status: str) -> dict[str, Any]:
    """What DescribeExecution (and so a .sync task's result) carries beyond moto's fields."""
    redrivable = status in ("FAILED", "TIMED_OUT", "ABORTED")
    return {
        "inputDetails": {"included": True},
        "redriveCount": 0,
        "redriveStatus": "REDRIVABLE" if redrivable else "NOT_REDRIVABLE",
        **({} if redrivable else {"redriveStatusReason": f"Execution is {status} and cannot be redriven"}),
    }


@patch(
    service="stepfunctions",
    defect="DescribeExecution returns an output that is a JSON string undecoded (which breaks .sync consumers) "
    "and lacks inputDetails and the redrive fields, so a .sync task's result and a child's failure cause are "
    "smaller than AWS's",
    aws="the output is always JSON text; inputDetails, outputDetails and the redrive fields are present, and a "
    ".sync task's result (InputDetails, OutputDetails, ...) is built from them",
    reference="https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html; "
    f"{RECORDED}/v2/callback/test_callback.snapshot.json::test_start_execution_sync2 (InputDetails)",
    seen_in=MOTO,
)
def describe_execution_always_encodes_output(patcher: Patcher, emulator: Any) -> None:
    from moto.core.responses import ActionResult
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str
    from moto.stepfunctions.responses import StepFunctionResponse

    def describe_execution(self: StepFunctionResponse) -> ActionResult:
        arn = self._get_param("executionArn")
        execution = self.stepfunction_backend.describe_execution(arn)
        result = {
            "executionArn": arn,
            "input": execution.execution_input,
            "name": execution.name,
            "startDate": execution.start_date,
            "stateMachineArn": execution.state_machine_arn,
            "status": execution.status,
        }
        if execution.status != ExecutionStatus.RUNNING:
            result["stopDate"] = execution.stop_date
        if execution.status == ExecutionStatus.SUCCEEDED:
            result["output"] = to_json_str(execution.output, separators=(",", ":"))
            result["outputDetails"] = execution.output_details
        for key in ("error", "cause"):
            if getattr(execution, key, None) is not None:
                result[key] = getattr(execution, key)
        result.update(_execution_details(execution.status))
        return ActionResult(result)

    patcher.replace(StepFunctionResponse, "describe_execution", describe_execution)


@functools.cache
def _engine_modules() -> tuple[Any, ...]:
    """Every module of moto's ASL engine but its generated parser, imported (walked once per process:
    walking took 10 ms, at every install)."""
    import importlib
    import pkgutil

    import moto.stepfunctions.parser.asl as asl

    modules = []
    for module in pkgutil.walk_packages(asl.__path__, f"{asl.__name__}."):
        if module.name.startswith(f"{asl.__name__}.antlr"):
            continue
        try:
            modules.append(importlib.import_module(module.name))
        except ImportError:  # parts of LocalStack's interpreter that moto does not ship
            continue
    return tuple(modules)


def _replace_where_imported(patcher: Patcher, name: str, original: Any, value: Any, keep_in: Any = None) -> None:
    """NAME is VALUE in every engine module that holds ORIGINAL under that name (a module that imported
    it by name holds its own reference), except KEEP_IN."""
    for module in _engine_modules():
        if module is not keep_in and getattr(module, name, None) is original:
            patcher.replace(module, name, value)


@patch(
    service="stepfunctions",
    defect="a States.* error raised inside a Map iteration (States.Timeout, States.TaskFailed, ...) surfaces "
    "as an uncatchable States.Runtime",
    aws="the Map state fails with the iteration's own error name, which Catch and Retry can match",
    reference=f"{RECORDED} (test_timeouts.snapshot.json::test_service_lambda_map_timeout: ExecutionFailed "
    "States.Timeout)",
    seen_in=MOTO,
)
def states_errors_keep_their_names(patcher: Patcher, emulator: Any) -> None:
    from moto.stepfunctions.parser.asl.component.common.error_name import custom_error_name
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName

    custom = custom_error_name.CustomErrorName

    def error_name(error_name=None):
        """A States.* name as the States error it is; any other name as a custom error."""
        if error_name and error_name.startswith("States."):
            try:
                return StatesErrorName.from_name(error_name)
            except ValueError:
                pass
        return custom(error_name=error_name)

    # Every module that names errors from what a child or a task reported imported the class by
    # name: each such reference is replaced (the class itself stays as it is).
    _replace_where_imported(patcher, "CustomErrorName", custom, error_name, keep_in=custom_error_name)


@patch(
    service="stepfunctions",
    defect="a Catch or Retry on States.HeartbeatTimeout never matches a heartbeat expiry",
    aws="a heartbeat expiry fails the task and the execution with States.Timeout (TaskTimedOut, no cause); "
    "Catch and Retry match it by States.HeartbeatTimeout as well as by States.Timeout",
    reference=f"{ERROR_HANDLING} (States.HeartbeatTimeout: 'available inside the Catch and Retry fields'); "
    f"{RECORDED}/v2/timeouts/test_heartbeats.snapshot.json::test_heartbeat_timeout",
    seen_in=MOTO,
)
def heartbeat_expiry_is_matched_by_its_name(patcher: Patcher, emulator: Any) -> None:
    from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask
    from moto.stepfunctions.parser.asl.eval.callback.callback import HeartbeatTimeoutError

    class HeartbeatExpiry(StatesErrorName):
        """States.Timeout, as reported; matched by States.HeartbeatTimeout too."""

    heartbeat = StatesErrorName(typ=StatesErrorNameType.StatesHeartbeatTimeout)
    from_error = StateTask._from_error

    def task_from_error(self, env, ex):
        failure = from_error(self, env, ex)
        if isinstance(ex, HeartbeatTimeoutError):
            failure.error_name = HeartbeatExpiry(typ=StatesErrorNameType.StatesTimeout)
        return failure

    matches = ErrorEqualsDecl._eval_body

    def eval_body(self, env):
        error_name = env.stack[-1]
        matches(self, env)
        if isinstance(error_name, HeartbeatExpiry) and heartbeat in self.error_names:
            env.stack[-1] = True

    patcher.replace(StateTask, "_from_error", task_from_error)
    patcher.replace(ErrorEqualsDecl, "_eval_body", eval_body)


@patch(
    service="stepfunctions",
    defect="States.ALL catches everything, States.DataLimitExceeded and States.Runtime included, and any "
    "Catch or Retry naming States.Runtime matches it",
    aws="States.ALL does not match States.DataLimitExceeded nor States.Runtime; States.Runtime always fails "
    "the execution (only a Catch naming States.DataLimitExceeded catches that one)",
    reference=f"{ERROR_HANDLING} (States.ALL: 'can't catch the States.DataLimitExceeded terminal error or "
    "Runtime error types'; States.Runtime: 'isn't retriable, and will always cause the execution to fail')",
    seen_in=MOTO,
)
def terminal_errors_escape_states_all(patcher: Patcher, emulator: Any) -> None:
    from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )

    everything = StatesErrorName(typ=StatesErrorNameType.StatesALL)
    data_limit = StatesErrorName(typ=StatesErrorNameType.StatesStatesDataLimitExceeded)
    runtime = StatesErrorName(typ=StatesErrorNameType.StatesRuntime)
    matches = ErrorEqualsDecl._eval_body

    def eval_body(self, env):
        error_name = env.stack[-1]
        matches(self, env)
        if error_name == runtime or (error_name == data_limit and everything in self.error_names):
            env.stack[-1] = False

    patcher.replace(ErrorEqualsDecl, "_eval_body", eval_body)


@patch(
    service="stepfunctions",
    defect="integrations (dynamodb, sqs, api gateway, ...) turn every failure that is not a client error into "
    "their own generic, catchable error: a result over the payload limit fails with "
    "DynamoDB.AmazonDynamoDBException and an empty cause, a parameter path that selects nothing likewise",
    aws="a task whose result exceeds 262,144 bytes fails with States.DataLimitExceeded ('The state/task ... "
    "returned a result with a size exceeding the maximum number of bytes service limit.'); a path that "
    "selects nothing fails the execution with States.Runtime",
    reference=f"{ERROR_HANDLING}; {QUOTAS}",
    seen_in=MOTO,
)
def integration_failures_keep_their_states_errors(patcher: Patcher, emulator: Any) -> None:
    import importlib
    import pkgutil

    import moto.stepfunctions.parser.asl.component.state.exec.state_task.service as services
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEventException
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask
    from moto.stepfunctions.parser.asl.utils.json_path import NoSuchJsonPathError

    for module in pkgutil.iter_modules(services.__path__):
        importlib.import_module(f"{services.__name__}.{module.name}")

    def keeping_failures(from_error: Any) -> Any:
        def _from_error(self, env, ex):
            if isinstance(ex, FailureEventException):
                return ex.failure_event
            if isinstance(ex, NoSuchJsonPathError):
                raise ex  # the state turns it into States.Runtime, as for any other state
            return from_error(self, env, ex)

        return _from_error

    pending = [StateTask]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if "_from_error" in vars(cls) and cls.__module__.startswith(services.__name__):
            patcher.replace(cls, "_from_error", keeping_failures(vars(cls)["_from_error"]))


def _runtime_failure(env: Any, cause: str) -> Exception:
    """The failure of the execution with States.Runtime and CAUSE (moto adds the state and the event it was
    entered at), recorded once, as ExecutionFailed."""
    from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    details = ExecutionFailedEventDetails(error=StatesErrorNameType.StatesRuntime.to_name(), cause=cause)
    return FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=StatesErrorNameType.StatesRuntime),
            event_type=HistoryEventType.ExecutionFailed,
            event_details=EventDetails(executionFailedEventDetails=details),
        )
    )


@patch(
    service="stepfunctions",
    defect="a TimeoutSecondsPath or HeartbeatSecondsPath that selects nothing records two ExecutionFailed "
    "events (the first without AWS's cause); one that selects zero, a negative number or a non-integer is "
    "taken as it is (the task times out at once)",
    aws="one ExecutionFailed, States.Runtime, cause \"An error occurred while executing the state 'task' "
    "(entered at the event id #2). Invalid path '$.x' : No results for path: $['x']\", no TaskScheduled; the "
    "value must be a positive integer (the error for other values is not recorded: here States.Runtime too)",
    reference=f"{RECORDED}/v2/scenarios/test_base_scenarios.snapshot.json::test_invalid_jsonpath"
    "[ST.INVALID_JSONPATH_IN_TIMEOUTSECONDSPATH]; https://docs.aws.amazon.com/step-functions/latest/dg/"
    "state-task.html (TimeoutSecondsPath, HeartbeatSecondsPath: positive integers)",
    seen_in=MOTO,
)
def timeout_paths_fail_once_and_strictly(patcher: Patcher, emulator: Any) -> None:
    from moto.stepfunctions.parser.api import HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.catch.catch_outcome import CatchOutcome
    from moto.stepfunctions.parser.asl.component.common.retry.retry_outcome import RetryOutcome
    from moto.stepfunctions.parser.asl.component.common.timeouts.heartbeat import HeartbeatSecondsPath
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSecondsPath
    from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
    from moto.stepfunctions.parser.asl.utils.json_path import NoSuchJsonPathError

    def seconds_of(field):
        def _eval_seconds(self, env):
            try:
                self.string_sampler.eval(env=env)
            except NoSuchJsonPathError as missing:
                path = missing.json_path
                raise _runtime_failure(env, f"Invalid path '{path}' : No results for path: $['{path[2:]}']") from None
            seconds = env.stack.pop()
            if not isinstance(seconds, int) or isinstance(seconds, bool) or seconds <= 0:
                raise _runtime_failure(env, f"The {field} parameter must reference a positive integer, got {seconds!r}")
            return seconds

        return _eval_seconds

    # moto's ExecutionState._eval_state, recording a failure event only when it is a state's own (an
    # ExecutionFailed failure is recorded once, by the execution, as the Map state already does).
    def eval_state(self, env):
        env.states.context_object.context_object_data["State"]["RetryCount"] = 0
        while env.is_running():
            try:
                self._evaluate_with_timeout(env)
                break
            except Exception as ex:
                failure_event = self._from_error(env=env, ex=ex)
                if failure_event.event_type != HistoryEventType.ExecutionFailed:
                    env.event_manager.add_event(
                        context=env.event_history_context,
                        event_type=failure_event.event_type,
                        event_details=failure_event.event_details,
                    )
                error_output = self._construct_error_output_value(failure_event=failure_event)
                env.states.set_error_output(error_output)
                env.states.set_result(error_output)
                if self.retry and self._handle_retry(env=env, failure_event=failure_event) == RetryOutcome.CanRetry:
                    continue
                if self.catch:
                    self._handle_catch(env=env, failure_event=failure_event)
                    if env.stack[-1] == CatchOutcome.Caught:
                        break
                self._handle_uncaught(env=env, failure_event=failure_event)

    patcher.replace(TimeoutSecondsPath, "_eval_seconds", seconds_of("TimeoutSecondsPath"))
    patcher.replace(HeartbeatSecondsPath, "_eval_seconds", seconds_of("HeartbeatSecondsPath"))
    patcher.replace(ExecutionState, "_eval_state", eval_state)


DEFAULT_TASK_TOKEN_LENGTH = 700  # characters; tokens seen on AWS run to about 700 (the API allows 2,048)


@patch(
    service="stepfunctions",
    defect="task tokens are 36-character UUIDs, so no limit that involves a token is ever exercised",
    aws="task tokens are opaque strings of hundreds of characters (base64 alphabet), up to 2,048",
    reference="https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskSuccess.html "
    "(taskToken: length 1 to 2048); ../shared/NOTES-aws.md (about 700 seen in practice)",
    seen_in=MOTO,
)
def task_tokens_are_realistic(patcher: Patcher, emulator: Any) -> None:
    import base64
    import secrets

    from moto.stepfunctions.parser.asl.eval.states import ContextObject, TaskData

    length = getattr(emulator, "task_token_length", DEFAULT_TASK_TOKEN_LENGTH)

    def update_task_token(self: ContextObject) -> str:
        random = base64.b64encode(secrets.token_bytes(length)).decode()
        token = f"AQ{random}"[:length]
        self.context_object_data["Task"] = TaskData(Token=token)
        return token

    patcher.replace(ContextObject, "update_task_token", update_task_token)


MAX_TASK_TOKEN_LENGTH = 2048  # the API's bound on taskToken
PAYLOAD_LIMIT_BYTES = 262144  # state input and output, task result, execution input, callback output
HISTORY_LIMIT_EVENTS = 25000


def _validation_error(field: str, constraint: str) -> Exception:
    from moto.stepfunctions.exceptions import ValidationException

    return ValidationException(
        f"1 validation error detected: Value at '{field}' failed to satisfy constraint: Member must {constraint}"
    )


@patch(
    service="stepfunctions",
    defect="SendTaskSuccess, SendTaskFailure and SendTaskHeartbeat accept any size: an output over 262,144 "
    "bytes, a cause over 32,768 characters, an error over 256 or a token over 2,048",
    aws="the request is refused with ValidationException (\"1 validation error detected: Value at 'cause' "
    'failed to satisfy constraint: Member must have length less than or equal to 32768")',
    reference="https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskSuccess.html, "
    "API_SendTaskFailure.html; https://github.com/irothschild/stefuna/issues/8 (the message, seen on AWS)",
    seen_in=MOTO,
)
def callback_requests_are_bounded(patcher: Patcher, emulator: Any) -> None:
    from moto.stepfunctions.responses import StepFunctionResponse

    limits = {"taskToken": MAX_TASK_TOKEN_LENGTH, "output": PAYLOAD_LIMIT_BYTES, "error": 256, "cause": 32768}

    def bounded(action: Any) -> Any:
        def respond(self: StepFunctionResponse) -> Any:
            for field, limit in limits.items():
                value = self._get_param(field)
                size = len(value.encode()) if field == "output" and isinstance(value, str) else len(value or "")
                if size > limit:
                    raise _validation_error(field, f"have length less than or equal to {limit}")
            return action(self)

        return respond

    for name in ("send_task_success", "send_task_failure", "send_task_heartbeat"):
        patcher.replace(StepFunctionResponse, name, bounded(getattr(StepFunctionResponse, name)))


@patch(
    service="stepfunctions",
    defect="a state's input after Parameters (or a Map item after ItemSelector) may exceed 262,144 bytes",
    aws="the state fails with States.DataLimitExceeded when its input after Parameters processing is larger "
    "than the payload quota",
    reference=f"{ERROR_HANDLING} (States.DataLimitExceeded); {QUOTAS}",
    seen_in=MOTO,
)
def effective_input_is_size_checked(patcher: Patcher, emulator: Any) -> None:
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.common.parargs import Parargs
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.item_selector import ItemSelector
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
    from moto.stepfunctions.parser.asl.utils.encoding import to_json_str

    def checked(evaluate: Any) -> Any:
        def _eval_body(self, env):
            evaluate(self, env)
            if len(to_json_str(env.stack[-1]).encode()) <= PAYLOAD_LIMIT_BYTES:
                return
            name = StatesErrorNameType.StatesStatesDataLimitExceeded
            cause = (
                f"The state/task '{env.next_state_name}' has an input with a size exceeding the maximum number "
                "of bytes service limit."
            )
            raise FailureEventException(
                failure_event=FailureEvent(
                    env=env,
                    error_name=StatesErrorName(typ=name),
                    event_type=HistoryEventType.TaskFailed,
                    event_details=EventDetails(
                        taskFailedEventDetails=TaskFailedEventDetails(error=name.to_name(), cause=cause)
                    ),
                )
            )

        return _eval_body

    for component in (Parargs, ItemSelector):
        patcher.replace(component, "_eval_body", checked(component._eval_body))


@patch(
    service="stepfunctions",
    defect="an execution's history grows without bound",
    aws="an execution fails when its history reaches 25,000 events: ExecutionFailed (event 25,000), "
    "States.Runtime, 'The execution reached the maximum number of history events (25000).'",
    reference=f"{QUOTAS}; https://github.com/loads/ardere/issues/86 (the error and cause, seen on AWS)",
    seen_in=MOTO,
)
def history_is_capped(patcher: Patcher, emulator: Any) -> None:
    from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    ends = {
        HistoryEventType.ExecutionFailed,
        HistoryEventType.ExecutionSucceeded,
        HistoryEventType.ExecutionAborted,
        HistoryEventType.ExecutionTimedOut,
    }
    add = EventManager.add_event

    def add_event(self, context, event_type, event_details=None, timestamp=None, update_source_event_id=True):
        if event_type not in ends and len(self._history_event_list) >= HISTORY_LIMIT_EVENTS - 1:
            full = getattr(self, "history_full", None)
            if full is not None:  # the execution's own manager: fail it, once; the last event is its end
                self.history_full = None
                full()
            return context.last_published_event_id
        return add(self, context, event_type, event_details, timestamp, update_source_event_id)

    environment = ExecutionWorker._get_evaluation_environment

    def environment_failing_when_full(self: ExecutionWorker) -> Any:
        env = environment(self)
        cause = f"The execution reached the maximum number of history events ({HISTORY_LIMIT_EVENTS})."
        set_error = env.set_error

        def fail() -> None:
            set_error(ExecutionFailedEventDetails(error="States.Runtime", cause=cause))
            # The state that was running goes on to its end, reading values the failed execution no
            # longer computes (a Choice pops a verdict no rule pushed): what that raises is not the
            # execution's error.
            env.set_error = lambda error: None

        env.event_manager.history_full = fail
        return env

    patcher.replace(EventManager, "add_event", add_event)
    patcher.replace(ExecutionWorker, "_get_evaluation_environment", environment_failing_when_full)


@patch(
    service="stepfunctions",
    defect="GetExecutionHistory ignores maxResults, nextToken and reverseOrder: every event in one page, oldest "
    "first (a reader that never follows nextToken passes locally and misses events on AWS)",
    aws="at most maxResults events a page (100 when it is 0 or absent; at most 1,000), a nextToken while more "
    "remain, newest first with reverseOrder; a nextToken that no earlier page gave: InvalidToken",
    reference="https://docs.aws.amazon.com/step-functions/latest/apireference/API_GetExecutionHistory.html",
    seen_in=MOTO,
)
def execution_history_is_paged(patcher: Patcher, emulator: Any) -> None:
    import base64
    import binascii
    import copy
    import json

    from moto.core.responses import ActionResult
    from moto.stepfunctions.exceptions import InvalidToken, ValidationException
    from moto.stepfunctions.responses import StepFunctionResponse

    def page_of_history(self: StepFunctionResponse) -> ActionResult:
        arn, newest_first = self._get_param("executionArn"), bool(self._get_param("reverseOrder"))
        size = self._get_int_param("maxResults") or 100
        if not 0 < size <= 1000:
            raise ValidationException(
                f"1 validation error detected: Value '{size}' at 'maxResults' failed to satisfy constraint: "
                "Member must have value less than or equal to 1000"
            )
        after = None  # the id of the last event a page gave: a running execution's new events do not shift it
        if token := self._get_param("nextToken"):
            try:
                where = json.loads(base64.urlsafe_b64decode(token))
                after = int(where["after"])
                if (where["executionArn"], where["reverseOrder"]) != (arn, newest_first):
                    raise ValueError(token)
            except (binascii.Error, ValueError, TypeError, KeyError) as error:
                raise InvalidToken(f"{token!r} is not a token of this listing") from error
        execution = self.stepfunction_backend.describe_execution(execution_arn=arn)  # ExecutionDoesNotExist
        events: list[dict[str, Any]] = []
        if has_started(execution):  # else no event yet
            # The page only is copied (moto copies the whole history for each call: paging a long
            # history page by page would copy it once a page).
            manager = execution.exec_worker.env.event_manager
            with manager._mutex:
                history = manager._history_event_list
                ordered = reversed(history) if newest_first else history
                chosen = [e for e in ordered if after is None or (e["id"] < after if newest_first else e["id"] > after)]
                events = copy.deepcopy(chosen[: size + 1])
        page = {"events": events[:size]}
        if len(events) > size:
            where = {"executionArn": arn, "reverseOrder": newest_first, "after": events[size - 1]["id"]}
            page["nextToken"] = base64.urlsafe_b64encode(json.dumps(where).encode()).decode()
        return ActionResult(page)

    patcher.replace(StepFunctionResponse, "get_execution_history", page_of_history)


def _illegal_intrinsic_escape(expression: str) -> bool:
    """Whether a string literal of an intrinsic function call escapes anything but ' { } and \\."""
    quoted, escaped = False, False
    for character in expression:
        if escaped:
            if character not in "'{}\\":
                return True
            escaped = False
        elif character == "\\":
            escaped = True
        elif character == "'":
            quoted = not quoted
    return False


def _intrinsic_escape_errors(node: Any, path: str = "") -> list[str]:
    if isinstance(node, list):
        return [error for index, item in enumerate(node) for error in _intrinsic_escape_errors(item, f"{path}/{index}")]
    if not isinstance(node, dict):
        return []
    errors = [
        f"SCHEMA_VALIDATION_FAILED: The value for the field '{key}' must be a valid JSONPath or a valid intrinsic "
        f"function call at {path}"
        for key, value in node.items()
        if key.endswith(".$") and isinstance(value, str) and value.startswith("States.")
        if _illegal_intrinsic_escape(value)
    ]
    # A Pass state's Result is taken as it is written: a key ending in .$ there is no template.
    templates = {key: value for key, value in node.items() if not (key == "Result" and node.get("Type") == "Pass")}
    return errors + [e for key, value in templates.items() for e in _intrinsic_escape_errors(value, f"{path}/{key}")]


@patch(
    service="stepfunctions",
    defect='a definition whose intrinsic function strings hold an escape AWS does not allow (\\" for instance) is '
    "accepted",
    aws='CreateStateMachine refuses it: InvalidDefinition "Invalid State Machine Definition: '
    "'SCHEMA_VALIDATION_FAILED: The value for the field 'x.$' must be a valid JSONPath or a valid intrinsic "
    "function call at /States/S/Parameters'\" (only \\' \\{ \\} and \\\\ are escapes in an intrinsic's string); a "
    "Pass state's Result is taken literally, whatever its keys",
    reference=f"{RECORDED}/v2/scenarios/test_base_scenarios.snapshot.json::test_illegal_escapes; "
    "https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html (reserved characters)",
    seen_in=MOTO,
)
def illegal_intrinsic_escapes_are_refused(patcher: Patcher, emulator: Any) -> None:
    import json

    from moto.stepfunctions.parser.api import InvalidDefinition
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    validate = StepFunctionsParserBackend._validate_definition

    def validate_definition(definition: str) -> None:
        validate(definition)
        errors = _intrinsic_escape_errors(json.loads(definition))
        if errors:
            raise InvalidDefinition(message=f"Invalid State Machine Definition: '{', '.join(errors)}'")

    patcher.replace(StepFunctionsParserBackend, "_validate_definition", staticmethod(validate_definition))


@patch(
    service="stepfunctions",
    defect="StopExecution drops the request's error and cause (the execution ends ABORTED with neither), and "
    "finds only executions started by StartExecution, not a Distributed Map's children",
    aws="the execution ends ABORTED with the error and cause given to StopExecution (DescribeExecution, the "
    "ExecutionAborted event); any execution of the account can be stopped, a Map Run's children included",
    reference="https://docs.aws.amazon.com/step-functions/latest/apireference/API_StopExecution.html",
    seen_in=MOTO,
)
def stopped_execution_keeps_its_error_and_cause(patcher: Patcher, emulator: Any) -> None:
    import datetime

    from moto.core.responses import ActionResult
    from moto.stepfunctions.responses import StepFunctionResponse

    def stop_execution(self: StepFunctionResponse) -> Any:
        # describe_execution raises ExecutionDoesNotExist, and finds a Map Run's children once the
        # Distributed Map patches are in.
        execution = self.stepfunction_backend.describe_execution(self._get_param("executionArn"))
        now = datetime.datetime.now(datetime.UTC)
        if execution.status == "RUNNING":
            error, cause = self._get_param("error"), self._get_param("cause")
            # moto records them in the history only; DescribeExecution reads these attributes.
            execution.error, execution.cause = error, cause
            execution.stop(stop_date=now, error=error, cause=cause)
        return ActionResult({"stopDate": execution.stop_date or now})

    patcher.replace(StepFunctionResponse, "stop_execution", stop_execution)


# How a frame stopped by a failing Map iteration is told from one stopped by StopExecution.
MAP_ITERATION_ABORTED = "States.MapIterationAborted"
ABORTED_ITERATIONS_BOUND_SECONDS = 30  # how long a failing Map waits for its aborted iterations


@patch(
    service="stepfunctions",
    defect="a stopped execution's waiting tasks go on: a callback task waits until its own timeout, and the "
    "failures of stopped tasks (TaskTimedOut, TaskFailed) are recorded after the execution ended",
    aws="stopping an execution ends it at once: ExecutionAborted is its last event",
    reference=f"{RECORDED}/v2/test_sfn_api.snapshot.json::test_stop_execution",
    seen_in=MOTO,
)
def stopped_states_end_quietly(patcher: Patcher, emulator: Any) -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped

    set_stop = Environment.set_stop

    def set_stop_and_interrupt(self, stop_date, cause, error):
        set_stop(self, stop_date=stop_date, cause=cause, error=error)
        task = self.states.context_object.context_object_data.get("Task")
        endpoint = self.callback_pool_manager.get(task["Token"]) if task else None
        if endpoint is not None:
            endpoint.interrupt_all()  # a callback task stops waiting at once

    evaluate = ExecutionState._evaluate_with_timeout

    def evaluate_unless_stopped(self, env):
        try:
            evaluate(self, env)
        except Exception:
            if not isinstance(env.program_state(), ProgramStopped):
                raise

    patcher.replace(Environment, "set_stop", set_stop_and_interrupt)
    patcher.replace(ExecutionState, "_evaluate_with_timeout", evaluate_unless_stopped)


@patch(
    service="stepfunctions",
    defect="when one iteration of an inline Map fails, the other iterations run on: their tasks, child "
    "executions and jobs go on, and their events are recorded after MapStateFailed and ExecutionFailed",
    aws="the other running iterations are aborted first: each records <Type>StateAborted and "
    "MapIterationAborted, then the Map records MapStateFailed",
    reference=f"{RECORDED}/v2/timeouts/test_timeouts.snapshot.json::test_service_lambda_map_timeout",
    seen_in=MOTO,
)
def failed_map_iteration_aborts_its_siblings(patcher: Patcher, emulator: Any) -> None:
    import datetime
    import threading

    from moto.stepfunctions.parser.api import HistoryEventType
    from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.inline_iteration_component import (
        InlineIterationComponent,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.job import JobPool
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.max_concurrency import (
        DEFAULT_MAX_CONCURRENCY_VALUE,
    )
    from moto.stepfunctions.parser.asl.component.state.wait.state_wait import StateWait
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
    from moto.stepfunctions.parser.utils import TMP_THREADS

    # moto's own body of the inline iteration, with the abort of the others when one fails.
    def eval_body(self, env):
        eval_input = env.stack.pop()
        items = eval_input.input_items
        job_pool = JobPool(job_program=self._get_iteration_program(), job_inputs=items)
        concurrency = eval_input.max_concurrency
        workers = []
        for _ in range(len(items) if concurrency == DEFAULT_MAX_CONCURRENCY_VALUE else concurrency):
            worker = self._create_worker(env=env, eval_input=eval_input, job_pool=job_pool)
            thread = threading.Thread(target=worker.eval, daemon=True)
            TMP_THREADS.append(thread)
            thread.start()
            workers.append(thread)
        job_pool.await_jobs()
        failure = job_pool.get_worker_exception()
        if failure is not None:
            now = datetime.datetime.now(tz=datetime.UTC)
            for frame in list(env._frames):  # the frames of the iterations still running
                frame.set_stop(stop_date=now, cause=None, error=MAP_ITERATION_ABORTED)
            deadline = time.monotonic() + ABORTED_ITERATIONS_BOUND_SECONDS
            for thread in workers:
                thread.join(timeout=max(0.0, deadline - time.monotonic()))
            raise failure
        env.stack.append([closed.job_output for closed in job_pool.get_closed_jobs()])

    def aborted_event(eval_state):
        def _eval_state(self, env):
            eval_state(self, env)
            stopped = env.program_state()
            if isinstance(stopped, ProgramStopped) and stopped.error == MAP_ITERATION_ABORTED:
                event = f"{self.state_type.name}StateAborted"
                if event in HistoryEventType.__members__:
                    env.event_manager.add_event(context=env.event_history_context, event_type=HistoryEventType[event])

        return _eval_state

    patcher.replace(InlineIterationComponent, "_eval_body", eval_body)
    # Wraps what is in place: registered after timeout_paths_fail_once_and_strictly, which replaces it.
    for state in (ExecutionState, StateWait):
        patcher.replace(state, "_eval_state", aborted_event(state._eval_state))


@patch(
    service="stepfunctions",
    defect="a .sync task whose execution is stopped or whose Map iteration is aborted leaves its work running: "
    "the child execution goes on, the Batch job keeps its compute",
    aws="Step Functions cancels the work of a .sync task it stops managing: StopExecution on the child, "
    "TerminateJob on the Batch job ('The Task state in AWS Step Functions execution ... which was managing "
    "this resource was aborted')",
    reference="https://docs.aws.amazon.com/step-functions/latest/dg/stepfunctions-iam.html (the .sync policies "
    "grant states:StopExecution and batch:TerminateJob for this)",
    seen_in=MOTO,
)
def aborted_sync_tasks_stop_their_work(patcher: Patcher, emulator: Any) -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
        StateTaskServiceCallback,
    )
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped

    evaluate = StateTaskServiceCallback._eval_integration_pattern

    def cancel(task, env, submitted, region, credentials):
        # Imported as it is called: integrations_sign_with_the_execution_role replaces it after this patch.
        from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for

        execution = env.states.context_object.context_object_data["Execution"]["Id"]
        reason = (
            f"The Task state in AWS Step Functions execution {execution} which was managing this resource was aborted"
        )
        if task.resource.service_name == "states" and "ExecutionArn" in submitted:
            client = boto_client_for(service="stepfunctions", region=region, state_credentials=credentials)
            client.stop_execution(executionArn=submitted["ExecutionArn"], error="States.Aborted", cause=reason)
        elif task.resource.service_name == "batch" and "JobId" in submitted:
            client = boto_client_for(service="batch", region=region, state_credentials=credentials)
            client.terminate_job(jobId=submitted["JobId"], reason=reason[:255])

    def eval_integration_pattern(self, env, resource_runtime_part, normalised_parameters, state_credentials):
        submitted = env.stack[-1]
        try:
            evaluate(self, env, resource_runtime_part, normalised_parameters, state_credentials)
        finally:
            syncing = self.resource.condition in (ResourceCondition.Sync, ResourceCondition.Sync2)
            if syncing and isinstance(env.program_state(), ProgramStopped) and isinstance(submitted, dict):
                try:
                    cancel(self, env, submitted, resource_runtime_part.region, state_credentials)
                except Exception as error:  # the work may have ended meanwhile
                    LOG.info("the work of an aborted task was not cancelled: %s", error)

    patcher.replace(StateTaskServiceCallback, "_eval_integration_pattern", eval_integration_pattern)


@patch(
    service="stepfunctions",
    defect="JSONPath expressions are re-parsed on every evaluation (about 0.3 ms each, most of the engine's CPU)",
    aws="none: a speed-up, behaviour unchanged",
    reference="moto/stepfunctions/parser/asl/utils/json_path.py (jsonpath_ng.parse per call)",
    seen_in=MOTO,
)
def jsonpath_expressions_are_parsed_once(patcher: Patcher, emulator: Any) -> None:
    import moto.stepfunctions.parser.asl.component.common.path.result_path as result_path
    import moto.stepfunctions.parser.asl.utils.json_path as json_path

    for module in (json_path, result_path):
        patcher.replace(module, "parse", functools.lru_cache(maxsize=4096)(module.parse))


DEFINITION_TREES_KEPT = 256  # a run's state machines and its Distributed Maps' children: a few dozen


@patch(
    service="stepfunctions",
    defect="a definition is lexed and parsed again (ANTLR's Python runtime, about 0.1 s for the orchestrator) at "
    "CreateStateMachine, at its static analysis and at every execution start: one Distributed Map child each",
    aws="none: a speed-up, behaviour unchanged",
    reference="moto/stepfunctions/parser/asl/parse/asl_parser.py (AmazonStateLanguageParser.parse)",
    seen_in=MOTO,
)
def definitions_are_lexed_once(patcher: Patcher, emulator: Any) -> None:
    """The parse tree of a definition that parsed without error is kept; each parse still builds its
    program (the components an execution evaluates) from the tree anew, so no two executions share a
    component. Nothing reads a tree but to visit it."""
    import threading
    from collections import OrderedDict

    from moto.stepfunctions.parser.asl.antlr.runtime.ASLParser import ASLParser

    build = ASLParser.state_machine
    trees: OrderedDict[str, Any] = OrderedDict()
    lock = threading.Lock()

    def state_machine(self: ASLParser) -> Any:
        definition = self.getTokenStream().tokenSource.inputStream.strdata
        with lock:
            tree = trees.get(definition)
            if tree is not None:
                trees.move_to_end(definition)
                return tree
        tree = build(self)
        if self.getNumberOfSyntaxErrors() == 0:
            with lock:
                trees[definition] = tree
                if len(trees) > DEFINITION_TREES_KEPT:
                    trees.popitem(last=False)
        return tree

    patcher.replace(ASLParser, "state_machine", state_machine)


@patch(
    service="stepfunctions",
    defect="a lambda:invoke task's result lacks SdkHttpMetadata and SdkResponseMetadata (and ExecutedVersion "
    "when the function does not send it), so it is smaller than AWS's",
    aws="the result is {ExecutedVersion, Payload, SdkHttpMetadata {AllHttpHeaders, HttpHeaders, HttpStatusCode}, "
    "SdkResponseMetadata {RequestId}, StatusCode}",
    reference=f"{RECORDED}/v2/services/test_lambda_task_service.snapshot.json::test_invoke",
    seen_in=MOTO,
)
def lambda_invoke_results_carry_aws_metadata(patcher: Patcher, emulator: Any) -> None:
    import json

    from moto.stepfunctions.parser.api import InvocationResponse
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.utilities.collections import select_from_typed_dict

    execute = lambda_eval_utils.execute_lambda_function_integration

    def with_metadata(response: dict[str, Any]) -> dict[str, Any]:
        metadata = response.get("ResponseMetadata", {})
        received = metadata.get("HTTPHeaders", {})
        version = response.get("ExecutedVersion") or "$LATEST"
        headers = {
            "Connection": "keep-alive",
            "Content-Length": received.get("content-length", "0"),
            "Content-Type": "application/json",
            "Date": received.get("date", ""),
            "X-Amz-Executed-Version": version,
            "x-amzn-Remapped-Content-Length": "0",
            "x-amzn-RequestId": metadata.get("RequestId", ""),
            "X-Amzn-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0",
        }
        result = select_from_typed_dict(typed_dict=InvocationResponse, obj=response)
        return {
            **result,
            "ExecutedVersion": version,
            "SdkHttpMetadata": {
                "AllHttpHeaders": {name: [value] for name, value in headers.items()},
                "HttpHeaders": headers,
                "HttpStatusCode": metadata.get("HTTPStatusCode", response.get("StatusCode")),
            },
            "SdkResponseMetadata": {"RequestId": metadata.get("RequestId", "")},
        }

    # moto's execute_lambda_function_integration, keeping the HTTP metadata its typed result drops.
    def execute_lambda_function_integration(env, parameters, region, state_credentials):
        if env.is_mocked_mode():
            return execute(env, parameters, region, state_credentials)
        invoke = lambda_eval_utils._invoke_lambda_function  # looked up each time, as moto does
        response = invoke(parameters=parameters, region=region, state_credentials=state_credentials)
        if response.get("FunctionError"):
            payload = json.dumps(response["Payload"], separators=(",", ":"))
            raise lambda_eval_utils.LambdaFunctionErrorException(response["FunctionError"], payload)
        env.stack.append(with_metadata(response))

    patcher.replace(lambda_eval_utils, "execute_lambda_function_integration", execute_lambda_function_integration)


@patch(
    service="stepfunctions",
    defect="a callback sent before the engine starts waiting (a fast Event-invoked function) is missed when the "
    "task has HeartbeatSeconds: the task fails with a heartbeat timeout instead",
    aws="a callback with a valid token completes its task whenever it arrives while the task is open",
    reference="https://docs.aws.amazon.com/step-functions/latest/dg/connect-to-resource.html#connect-wait-token",
    seen_in=MOTO,
)
def early_callbacks_are_not_missed(patcher: Patcher, emulator: Any) -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_callback import (
        StateTaskServiceCallback,
    )
    from moto.stepfunctions.parser.asl.eval.callback.callback import HeartbeatTimedOut

    def wait_for_task_token_heartbeat(self, env, callback_endpoint, heartbeat_endpoint):
        outcome = callback_endpoint.get_outcome()
        while env.is_running() and outcome is None:
            received = heartbeat_endpoint.clear_and_wait()
            outcome = callback_endpoint.get_outcome()
            if outcome is None and not received and env.is_running():
                outcome = HeartbeatTimedOut()
        return outcome

    patcher.replace(StateTaskServiceCallback, "_wait_for_task_token_heartbeat", wait_for_task_token_heartbeat)


@patch(
    service="stepfunctions",
    defect="SendTaskHeartbeat is refused with InvalidToken while its task waits, when the task has no "
    "HeartbeatSeconds or the engine has not yet started waiting (a heartbeat sent right after the token)",
    aws="a heartbeat with the token of a waiting task is accepted, whether or not the task has HeartbeatSeconds",
    reference="https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskHeartbeat.html",
    seen_in=MOTO,
)
def heartbeats_reach_a_waiting_task(patcher: Patcher, emulator: Any) -> None:
    from moto.stepfunctions.parser.asl.eval.callback.callback import CallbackEndpoint

    def notify_heartbeat(self: CallbackEndpoint) -> bool:
        if self._heartbeat_endpoint is not None:
            self._heartbeat_endpoint.notify()
        return True  # the pool found the token and no consumer error: the task waits

    patcher.replace(CallbackEndpoint, "notify_heartbeat", notify_heartbeat)


@patch(
    service="stepfunctions",
    defect="lambda:invoke drops InvocationType: an Event invocation runs synchronously, and a function error "
    "fails the task instead of being retried by Lambda or reported by the function",
    aws="lambda:invoke passes InvocationType to Invoke; with Event the task's result is Lambda's 202 response",
    reference="https://docs.aws.amazon.com/step-functions/latest/dg/connect-lambda.html",
    seen_in=MOTO,
)
def lambda_invoke_keeps_invocation_type(patcher: Patcher, emulator: Any) -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_lambda

    bindings = state_task_service_lambda._SUPPORTED_API_PARAM_BINDINGS
    patcher.replace_item(bindings, "invoke", {*bindings["invoke"], "InvocationType"})


def has_started(execution: Any) -> bool:
    """Whether an execution has its status, worker and environment, which callbacks look into."""
    worker = execution.exec_worker
    return execution.exec_status is not None and worker is not None and worker.env is not None


@patch(
    service="stepfunctions",
    defect="a callback that arrives while another execution is being started fails with AttributeError "
    "(HTTP 500): the new execution is listed before its status, its worker and the worker's environment exist",
    aws="SendTask* calls are answered whatever else is starting",
    reference="https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskSuccess.html",
    seen_in=MOTO,
)
def callbacks_skip_executions_still_starting(patcher: Patcher, emulator: Any) -> None:
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    # moto's own loop reads `execution.status`, which itself fails while the status is unset, so
    # filtering its result is too late: the loop is written again, skipping those first. It reads a
    # copy of the machines: an execution started meanwhile is only appended (harmless to a list being
    # iterated), but a machine deleted meanwhile would shift the list and the loop skip the next one.
    def get_executions(self, execution_status=None):
        return [
            execution
            for machine in list(self.state_machines)
            for execution in machine.executions
            if has_started(execution) and (execution_status is None or execution_status == execution.status)
        ]

    patcher.replace(StepFunctionsParserBackend, "_get_executions", get_executions)


@patch(
    service="stepfunctions",
    defect="a JSONPath filter ($.items[?(@.status == 'FAILED')]) that matches nothing fails the state with "
    "States.Runtime instead of giving an empty list (moto does so for slices and wildcards only)",
    aws="a filter expression that matches nothing selects an empty array",
    reference="https://docs.aws.amazon.com/step-functions/latest/dg/amazon-states-language-paths.html",
    seen_in=MOTO,
)
def filter_paths_without_match_are_empty_lists(patcher: Patcher, emulator: Any) -> None:
    import moto.stepfunctions.parser.asl.utils.json_path as json_path

    extract = json_path.extract_json

    def extract_json(path, data):
        try:
            return extract(path, data)
        except json_path.NoSuchJsonPathError:
            if "[?(" in path:
                return []
            raise

    _replace_where_imported(patcher, "extract_json", extract, extract_json)


@patch(
    service="stepfunctions",
    defect="StartExecution accepts an input over Step Functions' 262,144-byte limit; the execution then fails "
    "at its first state instead of being refused",
    aws="StartExecution refuses the input with ValidationException",
    reference=QUOTAS,
    seen_in=MOTO,
)
def start_execution_refuses_oversized_input(patcher: Patcher, emulator: Any) -> None:
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    start = StepFunctionsParserBackend.start_execution

    def start_execution(self, state_machine_arn, name=None, execution_input=None, trace_header=None):
        if execution_input is not None and len(execution_input.encode()) > PAYLOAD_LIMIT_BYTES:
            raise _validation_error("input", f"have length less than or equal to {PAYLOAD_LIMIT_BYTES}")
        return start(self, state_machine_arn, name, execution_input, trace_header)

    patcher.replace(StepFunctionsParserBackend, "start_execution", start_execution)


@patch(
    service="stepfunctions",
    defect="errors of the executing engine's API (InvalidDefinition, TaskTimedOut, ResourceNotFound, ...) reach "
    "clients with an empty error code, and some cannot even be raised (their message is required)",
    aws="each error reaches the client with its code (InvalidDefinition, TaskTimedOut, ...)",
    reference="https://docs.aws.amazon.com/step-functions/latest/apireference/CommonErrors.html",
    seen_in=MOTO,
)
def engine_api_errors_have_their_codes(patcher: Patcher, emulator: Any) -> None:
    import moto.stepfunctions.parser.api as api
    from moto.core.exceptions import AWSError

    def with_defaults(cls: type) -> Any:
        default_message = cls.__dict__.get("message", cls.__dict__["code"])

        def init(self, message=None, exception_type=None, status=None):
            AWSError.__init__(self, message or default_message, exception_type, status)

        return init

    for value in list(vars(api).values()):
        if isinstance(value, type) and issubclass(value, AWSError) and isinstance(value.__dict__.get("code"), str):
            patcher.replace(value, "TYPE", value.__dict__["code"])
            patcher.replace(value, "STATUS", value.__dict__.get("status_code", 400))
            patcher.replace(value, "__init__", with_defaults(value))


@patch(
    service="stepfunctions",
    defect="a second callback for a task that already completed is accepted (SendTaskFailure after a success "
    "answers 200): a duplicate cannot be told from a delivery",
    aws="a callback for a closed task is refused with TaskTimedOut",
    reference="https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskFailure.html",
    seen_in=MOTO,
)
def callbacks_of_completed_tasks_are_refused(patcher: Patcher, emulator: Any) -> None:
    from moto.stepfunctions.parser.asl.eval.callback.callback import (
        CallbackConsumerTimeout,
        CallbackNotifyConsumerError,
        CallbackPoolManager,
    )

    notify = CallbackPoolManager.notify

    def notify_once(self, callback_id, outcome):
        endpoint = self._pool.get(callback_id)
        if endpoint is not None and endpoint.get_outcome() is not None:
            raise CallbackNotifyConsumerError(callback_consumer_error=CallbackConsumerTimeout())
        return notify(self, callback_id, outcome)

    patcher.replace(CallbackPoolManager, "notify", notify_once)


@patch(
    service="stepfunctions",
    defect="$$.Execution.StartTime is a datetime, not AWS's ISO 8601 string: a task given it fails to serialise",
    aws="the context object's Execution.StartTime is an ISO 8601 string",
    reference="https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html",
    seen_in=MOTO,
)
def execution_start_time_is_an_iso_string(patcher: Patcher, emulator: Any) -> None:
    from datetime import UTC, datetime

    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    environment = ExecutionWorker._get_evaluation_environment

    def with_iso_start_time(self: ExecutionWorker) -> Any:
        env = environment(self)
        execution = env.states.context_object.context_object_data["Execution"]
        if isinstance(execution["StartTime"], datetime):
            started = execution["StartTime"].astimezone(UTC)
            execution["StartTime"] = started.isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return env

    patcher.replace(ExecutionWorker, "_get_evaluation_environment", with_iso_start_time)


@patch(
    service="stepfunctions",
    defect="the definition parser keeps its stack of QueryLanguage scopes in one list shared by every parse (a class "
    "attribute of Preprocessor): parses on several threads at once (a Distributed Map starting its children) push "
    "and pop each other's scopes, and a parse inherits another's query language or fails; a child's parse failed "
    "with IndexError, its thread died before its first event, and the child stayed RUNNING, its Map waiting",
    aws="every started execution runs its own definition; what else is parsed meanwhile changes nothing",
    reference="https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html (child executions "
    "run concurrently); https://docs.aws.amazon.com/step-functions/latest/dg/transforming-data.html (QueryLanguage)",
    seen_in=MOTO,
)
def definitions_parse_independently(patcher: Patcher, emulator: Any) -> None:
    from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor

    init = Preprocessor.__init__

    def with_scopes_of_its_own(self: Preprocessor, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self._query_language_per_scope = []

    patcher.replace(Preprocessor, "__init__", with_scopes_of_its_own)


@patch(
    service="stepfunctions",
    defect="a JSONPath field that names a variable ($name or $name.field, set by an Assign: in Parameters, "
    "ItemsPath, MaxItemsPerBatchPath, ToleratedFailureCountPath...) fails the execution with States.Runtime "
    "\"'NoneType' object is not callable\": moto reads variables through a JSONata evaluator it does not ship",
    aws="the field takes the variable's value, or the value at the path after its name",
    reference="https://docs.aws.amazon.com/step-functions/latest/dg/workflow-variables.html (referencing "
    "variables in JSONPath: $variableName, $variableName.field)",
    seen_in=MOTO,
)
def jsonpath_variable_references_are_read(patcher: Patcher, emulator: Any) -> None:
    import copy
    import re

    import moto.stepfunctions.parser.asl.utils.json_path as json_path
    from moto.stepfunctions.parser.asl.component.common.query_language import QueryLanguageMode
    from moto.stepfunctions.parser.asl.component.common.string.string_expression import StringVariableSample

    reference = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z0-9_]+|\[[^\[\]]+\])*)")
    sample = StringVariableSample._eval_body

    def _eval_body(self: StringVariableSample, env: Any) -> None:
        match = reference.fullmatch(self.expression)
        if self.query_language_mode != QueryLanguageMode.JSONPath or match is None:
            sample(self, env)  # a JSONata expression: only JSONata can read it
            return
        name, path = match.groups()
        value = env.variable_store.get(name)
        if path:
            # Looked up at each call: filter_paths_without_match_are_empty_lists replaces it.
            value = json_path.extract_json(f"${path}", value)
        env.stack.append(copy.deepcopy(value))  # the state may change what it was given; the variable stays

    patcher.replace(StringVariableSample, "_eval_body", _eval_body)


LONGEST_WAIT_SECONDS = 365 * 24 * 3600  # a Standard execution lasts at most a year


@patch(
    service="stepfunctions",
    defect="a Wait longer than a Standard execution may last (Seconds of 99999999, a Timestamp years ahead) waits",
    aws="the execution fails at once: States.Runtime, cause 'Wait state delay is too long' (the longest wait of a "
    "Standard workflow is one year)",
    reference="https://docs.aws.amazon.com/step-functions/latest/dg/state-wait.html ('the maximum wait time that "
    f"you can specify for Standard Workflows ... is one year'); {QUOTAS} (execution time: 1 year); the cause: "
    "executions recorded on AWS, replayed against the emulator",
    seen_in=MOTO,
)
def overlong_waits_fail_at_once(patcher: Patcher, emulator: Any) -> None:
    from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import WaitFunction

    def _eval_body(self: WaitFunction, env: Any) -> None:
        seconds = self._get_wait_seconds(env=env)
        # Express workflows (five minutes at most) are left as moto runs them: what AWS does there is not recorded.
        if env.is_standard_workflow() and seconds > LONGEST_WAIT_SECONDS:
            raise _runtime_failure(env, "Wait state delay is too long")
        self._wait_interval(env=env, wait_seconds=seconds)

    patcher.replace(WaitFunction, "_eval_body", _eval_body)
