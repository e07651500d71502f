"""Fixes for defects of moto that this application hits: its Step Functions engine, and one of
its DynamoDB (the emulator serves many threads at once; moto was written for one).

Each fix is one function that patches one place of moto, registered with the upstream status
of its defect and a probe that tells whether stock moto still has it. `apply_all()` applies
them once; tests/emulator/test_engine_fixes.py proves each fix needed (the probe fails on stock
moto) and working, and says when an upstream release has fixed a defect so the fix can go.
"""

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import moto


@dataclass(frozen=True)
class EngineFix:
    name: str
    defect: str
    upstream: str
    apply: Callable[[], None]


FIXES: list[EngineFix] = []
_applied = False


def engine_fix(defect: str, upstream: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    def register(apply: Callable[[], None]) -> Callable[[], None]:
        FIXES.append(EngineFix(apply.__name__, defect, upstream, apply))
        return apply

    return register


def apply_all() -> None:
    global _applied
    if not _applied:
        for fix in FIXES:
            fix.apply()
        _applied = True


@engine_fix(
    defect="SendTaskFailure drops the request's cause: the task fails with error only",
    upstream=f"present in moto {moto.__version__} (responses.send_task_failure passes no cause)",
)
def send_task_failure_keeps_cause() -> None:
    from moto.core.responses import EmptyResult
    from moto.stepfunctions.responses import StepFunctionResponse

    def send_task_failure(self: StepFunctionResponse) -> EmptyResult:
        self.stepfunction_backend.send_task_failure(
            self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
        )
        return EmptyResult()

    StepFunctionResponse.send_task_failure = send_task_failure


def _integration_classes() -> tuple[type, ...]:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_batch import (
        StateTaskServiceBatch,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_sfn import (
        StateTaskServiceSfn,
    )

    return StateTaskServiceSfn, StateTaskServiceBatch


@engine_fix(
    defect="states:startExecution(.sync/.sync:2) and batch:submitJob(.sync) fail: ASL's PascalCase parameters "
    "reach boto3 unchanged (_normalise_parameters/_normalise_response are no-ops)",
    upstream="getmoto/moto#10076 (open)",
)
def service_integrations_use_api_member_names() -> None:
    import datetime
    import functools

    import botocore.session
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
        StateTaskService,
    )
    from moto.stepfunctions.parser.utils import camel_to_snake_case

    session = botocore.session.get_session()
    normalised = _integration_classes()  # other integrations (aws-sdk, sqs) already send API names

    @functools.cache
    def operation(service: str, action: str):
        model = session.get_service_model(service)
        return model.operation_model({camel_to_snake_case(n): n for n in model.operation_names}[action])

    def shapes(task: StateTaskService, service: str | None, action: str | None):
        return operation(task._get_boto_service_name(service), task._get_boto_service_action(action))

    def normalise_parameters(self, parameters, boto_service_name=None, service_action_name=None):
        if isinstance(self, normalised):
            self._to_boto_request(parameters, shapes(self, boto_service_name, service_action_name).input_shape)

    def normalise_response(self, response, boto_service_name=None, service_action_name=None):
        if isinstance(self, normalised):
            self._from_boto_response(response, shapes(self, boto_service_name, service_action_name).output_shape)

    plain_value = StateTaskService._from_boto_response_value

    def response_value(value):
        # Step Functions renders timestamps in integration outputs as epoch milliseconds.
        if isinstance(value, datetime.datetime):
            return int(value.timestamp() * 1000)
        return plain_value(value)

    StateTaskService._normalise_parameters = normalise_parameters
    StateTaskService._normalise_response = normalise_response
    StateTaskService._from_boto_response_value = staticmethod(response_value)


@engine_fix(
    defect="executions started without a name are all named 'None': the second one collides or is silently merged",
    upstream=f"present in moto {moto.__version__} (parser backend start_execution uses name=None)",
)
def unnamed_executions_get_unique_names() -> None:
    import uuid

    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    start = StepFunctionsParserBackend.start_execution

    def start_execution(self, state_machine_arn, name=None, execution_input=None, trace_header=None):
        return start(self, state_machine_arn, name or str(uuid.uuid4()), execution_input, trace_header)

    StepFunctionsParserBackend.start_execution = start_execution


@engine_fix(
    defect="describe_execution returns an output that is a JSON string undecoded, which breaks .sync consumers",
    upstream=f"present in moto {moto.__version__} (responses.describe_execution)",
)
def describe_execution_always_encodes_output() -> None:
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
        return ActionResult(result)

    StepFunctionResponse.describe_execution = describe_execution


@engine_fix(
    defect="a States.* error raised inside a Map iteration (States.Timeout, States.TaskFailed, ...) surfaces "
    "as an uncatchable States.Runtime",
    upstream=f"present in moto {moto.__version__} (CustomErrorName rejects names starting with 'States.')",
)
def states_errors_keep_their_names() -> None:
    from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import CustomErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName

    def new(cls, error_name=None):
        if error_name and error_name.startswith("States."):
            try:
                return StatesErrorName.from_name(error_name)
            except ValueError:
                pass
        return object.__new__(cls)

    def init(self, error_name=None):
        ErrorName.__init__(self, error_name=error_name)

    CustomErrorName.__new__ = new
    CustomErrorName.__init__ = init


@engine_fix(
    defect="heartbeat expiry is reported as States.Timeout instead of States.HeartbeatTimeout",
    upstream=f"present in moto {moto.__version__} (StateTask._from_error maps every TimeoutError)",
)
def heartbeat_expiry_is_a_heartbeat_timeout() -> None:
    from moto.stepfunctions.parser.api import HistoryEventType, TaskTimedOutEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import StateTask
    from moto.stepfunctions.parser.asl.eval.callback.callback import HeartbeatTimeoutError
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    from_error = StateTask._from_error

    def task_from_error(self, env, ex):
        if not isinstance(ex, HeartbeatTimeoutError):
            return from_error(self, env, ex)
        details = TaskTimedOutEventDetails(error="States.HeartbeatTimeout", cause="")
        return FailureEvent(
            env=env,
            error_name=StatesErrorName(typ=StatesErrorNameType.StatesHeartbeatTimeout),
            event_type=HistoryEventType.TaskTimedOut,
            event_details=EventDetails(taskTimedOutEventDetails=details),
        )

    StateTask._from_error = task_from_error


@engine_fix(
    defect="JSONPath expressions are re-parsed on every evaluation (about 0.3 ms each, most of the engine's CPU)",
    upstream=f"present in moto {moto.__version__} (asl/utils/json_path.py, result_path.py)",
)
def jsonpath_expressions_are_parsed_once() -> None:
    import functools

    import moto.stepfunctions.parser.asl.component.common.path.result_path as result_path
    import moto.stepfunctions.parser.asl.utils.json_path as json_path

    json_path.parse = functools.lru_cache(maxsize=4096)(json_path.parse)
    result_path.parse = functools.lru_cache(maxsize=4096)(result_path.parse)


@engine_fix(
    defect="a callback sent before the engine starts waiting (a fast Event-invoked function) is missed when the "
    "task has HeartbeatSeconds: the task fails with a heartbeat timeout instead",
    upstream=f"present in moto {moto.__version__} (_wait_for_task_token_heartbeat waits before reading the outcome)",
)
def early_callbacks_are_not_missed() -> None:
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

    StateTaskServiceCallback._wait_for_task_token_heartbeat = wait_for_task_token_heartbeat


@engine_fix(
    defect="lambda:invoke drops InvocationType: an Event invocation runs synchronously, and a function error "
    "fails the task instead of being retried or reported by the function",
    upstream=f"present in moto {moto.__version__} (state_task_service_lambda supported parameters)",
)
def lambda_invoke_keeps_invocation_type() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_lambda

    state_task_service_lambda._SUPPORTED_API_PARAM_BINDINGS["invoke"].add("InvocationType")


@engine_fix(
    defect="a callback that arrives while another execution is being started fails with AttributeError "
    "(HTTP 500): the new execution is listed before its status, its worker and the worker's environment exist",
    upstream=f"present in moto {moto.__version__} (parser models._get_executions)",
)
def callbacks_skip_executions_still_starting() -> None:
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    # moto's own loop reads `execution.status`, which itself fails while the status is unset, so
    # filtering its result is too late: the loop is written again, skipping those first.
    def get_executions(self, execution_status=None):
        return [
            execution
            for machine in self.state_machines
            for execution in machine.executions
            if execution.exec_status is not None
            and execution.exec_worker is not None
            and execution.exec_worker.env is not None
            and (execution_status is None or execution_status == execution.status)
        ]

    StepFunctionsParserBackend._get_executions = get_executions


@engine_fix(
    defect="a JSONPath filter ($.items[?(@.status == 'FAILED')]) that matches nothing fails the state with "
    "States.Runtime instead of giving an empty list (moto does so for slices and wildcards only)",
    upstream=f"present in moto {moto.__version__} (asl/utils/json_path.py extract_json)",
)
def filter_paths_without_match_are_empty_lists() -> None:
    import moto.stepfunctions.parser.asl.utils.json_path as json_path

    extract = json_path.extract_json

    def extract_json(path, data):
        try:
            return extract(path, data)
        except json_path.NoSuchJsonPathError:
            if "[?(" in path:
                return []
            raise

    json_path.extract_json = extract_json
    for module in list(sys.modules.values()):
        if getattr(module, "extract_json", None) is extract:
            module.extract_json = extract_json


@engine_fix(
    defect="StartExecution accepts an input over Step Functions' 262,144-byte limit; the execution then fails "
    "at its first state instead of being refused",
    upstream=f"present in moto {moto.__version__} (parser models.start_execution)",
)
def start_execution_refuses_oversized_input() -> None:
    from moto.stepfunctions.exceptions import ValidationException
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    start = StepFunctionsParserBackend.start_execution
    limit = 262144

    def start_execution(self, state_machine_arn, name=None, execution_input=None, trace_header=None):
        if execution_input is not None and len(execution_input.encode()) > limit:
            raise ValidationException(
                "1 validation error detected: Value at 'input' failed to satisfy constraint: "
                f"Member must have length less than or equal to {limit}"
            )
        return start(self, state_machine_arn, name, execution_input, trace_header)

    StepFunctionsParserBackend.start_execution = start_execution


@engine_fix(
    defect="errors of the executing engine's API (InvalidDefinition, TaskTimedOut, ResourceNotFound, ...) reach "
    "clients with an empty error code, and some cannot even be raised (their message is required)",
    upstream=f"present in moto {moto.__version__} (stepfunctions/parser/api.py declares `code`, AWSError reads TYPE)",
)
def engine_api_errors_have_their_codes() -> None:
    import moto.stepfunctions.parser.api as api
    from moto.core.exceptions import AWSError

    def with_defaults(cls: type) -> None:
        default_message = cls.__dict__.get("message", cls.TYPE)

        def init(self, message=None, exception_type=None, status=None):
            AWSError.__init__(self, message or default_message, exception_type, status)

        cls.__init__ = init

    for value in vars(api).values():
        if isinstance(value, type) and issubclass(value, AWSError) and isinstance(value.__dict__.get("code"), str):
            value.TYPE = value.__dict__["code"]
            value.STATUS = value.__dict__.get("status_code", 400)
            with_defaults(value)


@engine_fix(
    defect="a second callback for a task that already completed is accepted (SendTaskFailure after a success "
    "answers 200), where Step Functions answers TaskTimedOut: a duplicate cannot be told from a delivery",
    upstream=f"present in moto {moto.__version__} (CallbackPoolManager.notify)",
)
def callbacks_of_completed_tasks_are_refused() -> None:
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

    CallbackPoolManager.notify = notify_once


@engine_fix(
    defect="$$.Execution.StartTime is a datetime, not AWS's ISO 8601 string: a task given it fails to serialise",
    upstream=f"present in moto {moto.__version__} (execution_worker passes execution_details.start_time as is)",
)
def execution_start_time_is_an_iso_string() -> None:
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

    ExecutionWorker._get_evaluation_environment = with_iso_start_time


@engine_fix(
    defect="DynamoDB writes are not atomic: two UpdateItem calls on a new item from two threads can"
    " both create it, and the second overwrites the first (the audit table lost a job's RUNNING state)",
    upstream=f"present in moto {moto.__version__} (DynamoDBBackend.update_item reads, then writes, unlocked)",
)
def dynamodb_writes_are_serialised() -> None:
    import functools
    import threading

    from moto.dynamodb.models import DynamoDBBackend

    # One lock for every table: AWS makes each item's writes atomic; serialising all writes is
    # stricter and costs nothing at a local run's rates. Re-entrant: a transaction calls the others.
    lock = threading.RLock()

    def serialised(write: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(write)
        def locked(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return write(*args, **kwargs)

        return locked

    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        setattr(DynamoDBBackend, name, serialised(getattr(DynamoDBBackend, name)))
