"""What runs with a role calls with that role's credentials, and what a service does as itself is
authorized by the resource's policy, so that IAM enforcement (iam_enforcement.py) judges the application's
own roles rather than the root user's key.

- Step Functions signs each service integration (Lambda, Batch, nested executions, the Distributed Map's
  ItemReader and ResultWriter) with a session of the state machine's role (a task's `Credentials`, if
  any): moto's engine signed them all with the key `ak`;
- a Distributed Map starts its children as that role would (states:StartExecution of the state machine);
- an EventBridge rule invokes a Lambda target only if the function's policy lets events.amazonaws.com do
  it for that rule (aws:SourceArn).

The Lambda and Batch runtimes hand out their roles' sessions themselves (lambda_runtime.py,
batch_runtime.py, container_credentials.py).
"""

from typing import Any

from local_emulator import service_events
from local_emulator.patches import iam_enforcement
from local_emulator.patches.registry import Patcher, patch
from local_emulator.patches.stepfunctions import _replace_where_imported
from local_emulator.role_sessions import RoleSessions

MOTO = "5.2.5"
STATES_GUIDE = "https://docs.aws.amazon.com/step-functions/latest/dg"
SESSION_NAME = "StepFunctions"  # what the state machine's sessions are named (the caller's ARN ends with it)


def _signing_boto_client_for(sessions: RoleSessions) -> Any:
    """moto's boto_client_for (moto/stepfunctions/parser/asl/utils/boto_client.py), signing with a session
    of STATE_CREDENTIALS' role."""
    import boto3
    from botocore.config import Config
    from moto.core.models import botocore_stubber
    from moto.settings import moto_server_port
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        kwargs: dict[str, Any] = {}
        if not botocore_stubber.enabled:
            kwargs["endpoint_url"] = f"http://localhost:{moto_server_port()}"
        role_arn = getattr(state_credentials, "role_arn", None)
        if role_arn:
            credentials = sessions.of(role_arn, SESSION_NAME)
            keys = (credentials.access_key_id, credentials.secret_access_key, credentials.session_token)
        else:  # no role: the engine's own key, which is no identity of the account's
            keys = ("ak", "sk", None)
        return boto3.client(
            service_name=service,
            region_name=region,
            aws_access_key_id=keys[0],
            aws_secret_access_key=keys[1],
            aws_session_token=keys[2],
            config=Config(
                parameter_validation=False,
                retries={"max_attempts": 0, "total_max_attempts": 1},
                connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
                read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
            ),
            **kwargs,
        )

    return boto_client_for


@patch(
    service="stepfunctions",
    defect="the engine signs every service integration (lambda:invoke, batch:submitJob, states:startExecution, "
    "the Distributed Map's ItemReader and ResultWriter) with the access key `ak`, whatever the state machine's "
    "role: with authorization on, a role's policies never decide what its state machine may call",
    aws="Step Functions calls each integrated service with a session of the state machine's execution role (or "
    "of the task's Credentials.RoleArn): what the role's policies do not allow fails the task with the "
    "service's AccessDenied error (Lambda.AccessDeniedException, ...)",
    reference=f"{STATES_GUIDE}/procedure-create-iam-role.html; {STATES_GUIDE}/service-integration-iam-templates.html",
    seen_in=MOTO,
)
def integrations_sign_with_the_execution_role(patcher: Patcher, emulator: Any) -> None:
    from moto.stepfunctions.parser.asl.utils import boto_client

    region = emulator.lambdas.region if emulator is not None else "us-east-1"
    signing = _signing_boto_client_for(RoleSessions(region))
    original = boto_client.boto_client_for
    # Modules that imported it by name hold their own reference; the emulator's modules import it when
    # they call it, from its module.
    _replace_where_imported(patcher, "boto_client_for", original, signing)
    patcher.replace(boto_client, "boto_client_for", signing)


@patch(
    service="stepfunctions",
    defect="a Distributed Map starts its children whatever the state machine's role may do (and stock moto "
    "runs no Distributed Map at all)",
    aws="a Distributed Map starts each child execution with the state machine's role, which needs "
    "states:StartExecution on the state machine; without it the Map Run fails and the Map state with it",
    reference=f"{STATES_GUIDE}/iam-policies-eg-dist-map.html",
    seen_in=MOTO,
)
def map_runs_start_children_as_the_execution_role(patcher: Patcher, emulator: Any) -> None:
    from local_emulator.patches.distributed_map import MapRun, MapRunFailedError

    run_children = MapRun.run_children

    def run_children_as_the_role(self: MapRun, max_concurrency: int, count: Any, percentage: Any) -> bool:
        if self.children:
            details = self.env.aws_execution_details
            machine = self.env.states.context_object.context_object_data["StateMachine"]["Id"]
            try:
                iam_enforcement.authorize_role(
                    details.role_arn, "states:StartExecution", machine, session_name=SESSION_NAME, region=details.region
                )
            except iam_enforcement.RequestRefusedError as refusal:
                raise MapRunFailedError("States.Runtime", refusal.message()) from None
        return run_children(self, max_concurrency, count, percentage)

    patcher.replace(MapRun, "run_children", run_children_as_the_role)


@patch(
    service="events",
    defect="a rule invokes its Lambda targets whatever the function's resource policy says",
    aws="EventBridge invokes a function only if the function's resource policy lets events.amazonaws.com do it "
    "(lambda:InvokeFunction, for the rule: aws:SourceArn); otherwise the delivery fails (retried per the "
    "target's RetryPolicy, then sent to its dead-letter queue)",
    reference="https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-lambda-permissions",
    seen_in=MOTO,
)
def rules_invoke_functions_their_policies_allow(patcher: Patcher, emulator: Any) -> None:
    invoke = service_events.invoke_function

    def invoke_if_allowed(arn: str, event: dict[str, Any], source_arn: str | None = None) -> None:
        if source_arn is not None:
            try:
                iam_enforcement.authorize_service(
                    "events.amazonaws.com", "lambda:InvokeFunction", arn, {"aws:SourceArn": source_arn}
                )
            except iam_enforcement.RequestRefusedError as refusal:
                service_events.LOG.warning("event %s not delivered to %s: %s", event.get("id"), arn, refusal.message())
                return
        invoke(arn, event, source_arn)

    patcher.replace(service_events, "invoke_function", invoke_if_allowed)
