"""Least privilege, proven: each statement of the template's roles is needed where AWS needs it.

One stack is deployed into an emulator that enforces IAM, and the application's paths run through it
(SCENARIOS), while the IAM journal (iam_enforcement.journal) records each call of a function, a job, a
state machine or a service: which statements allowed it, or that it was refused. Then

(a) every identity-policy statement of the stack's roles (inline, the AWS::IAM::Policy resources, the
    managed policies SAM attaches) allowed some call, or is a known gap of the emulator (KNOWN_GAPS,
    each with the reason it cannot show its use);
(b) each statement that was used is removed, as the account's root user can, the scenario that used it
    first runs again until the journal shows a call of that role refused for an action of the statement
    on a resource the statement names, and the statement is put back.

Long (minutes): `make test-scale` runs it, `make test` does not."""

import contextlib
import json
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from local_emulator.batch_runtime import signal_group
from local_emulator.patches import iam_enforcement
from local_emulator.patches.iam_enforcement import Check, Context, Policy, Principal
from local_emulator.runner import OrchestratorRun
from local_emulator.server import Emulator, free_port
from tests.emulator.probes_iam import ACCOUNT, REGION
from tests.emulator.stacks import Deployed, deployed, sleep_command

pytestmark = pytest.mark.scale

# Small sleeps: a job works 1 s per entry; the full path's array job has two children.
PARAMETERS = {
    "EntryCommand": sleep_command(1),
    "AllowRequestCommand": "true",  # the sample workload's round runs the stack's sample command
    "NestedWaitSeconds": "0",
    "ArrayJobSize": "2",
    "Patterns": "lean",
}
SCENARIO_SECONDS = 120  # the bound of each wait of a scenario
REFUSAL_SECONDS = 30  # how long a round waits for the refusal once its scenario has ended or stopped
ACTIVE = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING")
Stop = Callable[[], bool]

# Statements no scenario can use in the emulator, each with why (role's logical id or "*", an action of
# the statement, the end of one of its resources or None).
KNOWN_GAPS: list[tuple[str, str, str | None, str]] = [
    ("*", "xray:PutTraceSegments", None, "X-Ray is not emulated: nothing sends traces (Tracing: Active)"),
    (
        "*",
        "logs:CreateLogDelivery",
        None,
        "state machine logging: Step Functions delivers execution logs to CloudWatch Logs through a log "
        "delivery it sets up with the role; the emulator logs no executions",
    ),
    (
        "*",
        "sqs:SendMessage",
        None,
        "Lambda's on-failure destination (EventInvokeConfig) sends a failed asynchronous invocation's record "
        "with the function's role: the emulator logs such invocations, it sends them nowhere",
    ),
    (
        "OrchestratorStateMachineRole",
        "events:PutRule",
        None,
        "the .sync integrations' managed EventBridge rules: moto's engine polls instead of creating them",
    ),
    (
        "OrchestratorStateMachineRole",
        "states:StopExecution",
        "-orchestrator/*",
        "a Distributed Map describes and stops its child executions itself: the emulator's Map Run tracks and "
        "stops them in process",
    ),
    (
        "OrchestratorStateMachineRole",
        "states:DescribeMapRun",
        None,
        "no state or integration of the emulator's engine calls DescribeMapRun or UpdateMapRun",
    ),
]


# == the journal ==============================================================================
@dataclass(frozen=True)
class Call:
    at: float
    role: str  # the caller's role name (a service's name for a service)
    action: str
    resource: str
    statements: tuple[tuple[str, int], ...] | None  # the statements that allowed it; None: refused


class Journal:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.lock = threading.Lock()

    def __call__(self, caller: str, action: str, resource: str, statements: list[tuple[str, int]] | None) -> None:
        role = caller.split("/")[1] if ":assumed-role/" in caller else caller
        call = Call(time.monotonic(), role, action, resource, None if statements is None else tuple(statements))
        with self.lock:
            self.calls.append(call)

    def since(self, moment: float) -> list[Call]:
        with self.lock:
            return [call for call in self.calls if call.at >= moment]


# == the roles' statements ====================================================================
@dataclass(frozen=True)
class Statement:
    logical: str  # the role's logical id
    role: str  # its name
    policy: str  # as the journal names it: ROLE/inline-name, or a managed policy's ARN
    index: int
    document: dict[str, Any] = field(compare=False, hash=False)

    @property
    def managed(self) -> bool:
        return self.policy.startswith("arn:")

    @property
    def actions(self) -> list[str]:
        actions = self.document.get("Action", [])
        return actions if isinstance(actions, list) else [actions]

    @property
    def resources(self) -> list[str]:
        resources = self.document.get("Resource", [])
        return resources if isinstance(resources, list) else [resources]

    def __str__(self) -> str:
        return f"{self.logical} {self.policy.rsplit('/', 1)[-1]}#{self.index} {','.join(self.actions)}"

    def covers(self, call: Call) -> bool:
        """Whether CALL is one this statement governs: an action and a resource it names."""
        shape = {"Effect": "Allow", "Action": self.actions, "Resource": self.resources}
        check = Check(call.action, call.resource)
        principal = Principal("root", f"arn:aws:iam::{ACCOUNT}:root", ACCOUNT, REGION)
        return Policy({"Version": "2012-10-17", "Statement": [shape]}).evaluate(check, Context(check, principal), None)[
            1
        ]


def _document(document: Any) -> dict[str, Any]:
    return json.loads(document) if isinstance(document, str) else document


def statements_of(stack: Deployed) -> list[Statement]:
    iam, found = stack.client("iam"), []
    resources = stack.client("cloudformation").describe_stack_resources(StackName=stack.stack.name)["StackResources"]
    for resource in resources:
        if resource["ResourceType"] != "AWS::IAM::Role":
            continue
        logical, role = resource["LogicalResourceId"], resource["PhysicalResourceId"]
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
            document = _document(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"])
            found += _statements(logical, role, f"{role}/{name}", document)
        for attached in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
            arn = attached["PolicyArn"]
            version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
            document = _document(iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"])
            found += _statements(logical, role, arn, document)
    return found


def _statements(logical: str, role: str, policy: str, document: dict[str, Any]) -> list[Statement]:
    listed = document.get("Statement", [])
    listed = listed if isinstance(listed, list) else [listed]
    return [Statement(logical, role, policy, i, s) for i, s in enumerate(listed) if s.get("Effect") == "Allow"]


def known_gap(statement: Statement) -> str | None:
    for logical, action, resource_end, reason in KNOWN_GAPS:
        if logical not in ("*", statement.logical) or action not in statement.actions:
            continue
        if resource_end is None or any(r.endswith(resource_end) for r in statement.resources):
            return reason
    return None


@contextlib.contextmanager
def removed(stack: Deployed, statement: Statement) -> Iterator[None]:
    """STATEMENT taken out of its role meanwhile (a managed policy detached), then put back."""
    iam = stack.client("iam")
    if statement.managed:
        iam.detach_role_policy(RoleName=statement.role, PolicyArn=statement.policy)
        try:
            yield
        finally:
            iam.attach_role_policy(RoleName=statement.role, PolicyArn=statement.policy)
        return
    name = statement.policy.split("/", 1)[1]
    # SAM writes no Version; IAM's API requires one (it changes nothing here: no policy variables).
    original = {"Version": "2012-10-17"}
    original |= _document(iam.get_role_policy(RoleName=statement.role, PolicyName=name)["PolicyDocument"])
    listed = original["Statement"] if isinstance(original["Statement"], list) else [original["Statement"]]
    rest = [s for i, s in enumerate(listed) if i != statement.index]
    if rest:
        iam.put_role_policy(
            RoleName=statement.role, PolicyName=name, PolicyDocument=json.dumps({**original, "Statement": rest})
        )
    else:
        iam.delete_role_policy(RoleName=statement.role, PolicyName=name)
    try:
        yield
    finally:
        iam.put_role_policy(RoleName=statement.role, PolicyName=name, PolicyDocument=json.dumps(original))


# == the application's paths ==================================================================
class ResponseSink:
    """Where a custom resource function invoked by hand sends its response (CloudFormation's URL)."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/response"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Lab:
    emulator: Emulator
    stack: Deployed
    journal: Journal
    sink: ResponseSink
    runs: dict[str, str] = field(default_factory=dict)  # scenario -> the run id it made
    timeouts: list[str] = field(default_factory=list)  # what a scenario waited for in vain

    def client(self, service: str) -> Any:
        return self.stack.client(service)

    @property
    def runner(self) -> OrchestratorRun:
        return OrchestratorRun(self.emulator.endpoint_url, self.stack.stack)

    def wait(self, condition: Callable[[], Any], stop: Stop, what: str, seconds: float = SCENARIO_SECONDS) -> bool:
        """Until CONDITION holds (True), or STOP does or SECONDS pass (False: in `timeouts`)."""
        deadline = time.monotonic() + seconds
        while not condition():
            if stop():
                return False
            if time.monotonic() > deadline:
                self.timeouts.append(what)
                return False
            time.sleep(0.1)
        return True

    def start(self, payload: dict[str, Any]) -> tuple[str, str]:
        execution = self.runner.start({"input": payload})
        return execution, execution.rsplit(":", 1)[-1]

    def ended(self, execution: str) -> bool:
        return self.client("stepfunctions").describe_execution(executionArn=execution)["status"] != "RUNNING"

    def run(self, payload: dict[str, Any], stop: Stop) -> str:
        execution, run_id = self.start(payload)
        self.wait(lambda: self.ended(execution), stop, f"run {run_id}")
        return run_id

    def jobs_of(self, run_id: str | None, statuses: tuple[str, ...] = ACTIVE) -> list[dict[str, Any]]:
        """The jobs of run RUN_ID (of every run: None) in STATUSES."""
        batch, queue = self.client("batch"), self.stack.stack.outputs["JobQueueArn"]
        summaries = [j for s in statuses for j in batch.list_jobs(jobQueue=queue, jobStatus=s)["jobSummaryList"]]
        return [j for j in summaries if run_id is None or j["jobName"].startswith(f"run-{run_id}-")]

    def calls_of(self, logical: str, action: str, since: float) -> list[Call]:
        """The calls of the stack's role LOGICAL for ACTION since SINCE, allowed or refused."""
        role = self.physical(logical)
        return [c for c in self.journal.since(since) if c.role == role and c.action == action]

    def physical(self, logical: str) -> str:
        resources = self.client("cloudformation").describe_stack_resource(
            StackName=self.stack.stack.name, LogicalResourceId=logical
        )
        return resources["StackResourceDetail"]["PhysicalResourceId"]

    def invoke_custom_resource(self, logical: str, request_type: str, properties: dict[str, Any]) -> None:
        name = self.physical(logical)
        event = {
            "RequestType": request_type,
            "ResponseURL": self.sink.url,
            "StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{self.stack.stack.name}/by-hand",
            "RequestId": str(uuid.uuid4()),
            "LogicalResourceId": logical,
            "ResourceType": "Custom::ByHand",
            "ResourceProperties": {"ServiceToken": name, **properties},
        }
        self.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event).encode())

    # -- back to rest between rounds
    def settle(self) -> None:
        """Nothing left running: executions stopped, jobs ended, no invocation in flight or retrying; and
        no warm function: the next invocations start cold, as no cache of a warm one may hide a call."""
        sfn, batch = self.client("stepfunctions"), self.client("batch")
        outputs = self.stack.stack.outputs
        for process in list(self.emulator.batch.running.values()):
            signal_group(process, signal.SIGCONT)
        environment = self._compute_environment()
        batch.update_compute_environment(computeEnvironment=environment, state="ENABLED")
        self.emulator.lambdas.crashes.clear()
        for machine in (outputs["OrchestratorStateMachineArn"], outputs["CallbackNotifyStateMachineArn"]):
            for execution in sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")["executions"]:
                sfn.stop_execution(executionArn=execution["executionArn"], error="Test.Settle", cause="round over")
        deadline = time.monotonic() + SCENARIO_SECONDS
        quiet_twice = 0
        while quiet_twice < 2:
            assert time.monotonic() < deadline, "the emulator never came to rest"
            for job in self.jobs_of(None):
                batch.terminate_job(jobId=job["jobId"], reason="round over")
            for retry in list(self.emulator.lambdas.retries):  # Lambda's retries a minute later: not this round's
                retry.cancel()
                self.emulator.lambdas.retries.discard(retry)
            quiet = (
                not self.jobs_of(None)
                and not self.emulator.batch.running
                and _lambdas_idle(self.emulator)
                and not any(
                    sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")["executions"]
                    for machine in (outputs["OrchestratorStateMachineArn"], outputs["CallbackNotifyStateMachineArn"])
                )
            )
            quiet_twice = quiet_twice + 1 if quiet else 0
            time.sleep(0.1)
        for pool in list(self.emulator.lambdas.pools.values()):
            pool.stop()

    def _compute_environment(self) -> str:
        batch = self.client("batch")
        queue = batch.describe_job_queues(jobQueues=[self.stack.stack.outputs["JobQueueArn"]])["jobQueues"][0]
        return queue["computeEnvironmentOrder"][0]["computeEnvironment"]


def _lambdas_idle(emulator: Emulator) -> bool:
    runtime = emulator.lambdas
    if not runtime.async_invocations._work_queue.empty():
        return False
    return all(pool.slots._value == pool.slots._initial_value for pool in list(runtime.pools.values()))


def never() -> bool:
    return False


# Each scenario runs one of the application's paths to its end, or until STOP holds.
def deploy(lab: Lab, stop: Stop) -> None:
    """What the deploy's custom resources do (the deploy itself ran them first)."""
    parameters = lab.stack.stack.parameters
    checked = ("JobHeartbeatSeconds", "JobCallbackTimeoutSeconds", "MapMaxConcurrency", "MaxVcpus", "JobVcpu")
    lab.invoke_custom_resource(
        "ParameterCheckFunction", "Create", {k: parameters[k] for k in (*checked, "Patterns", "ArrayJobSize")}
    )
    script = {"Bucket": lab.stack.stack.outputs["ScriptBucketName"], "Key": parameters["BatchScriptName"]}
    lab.invoke_custom_resource("ScriptPublisherFunction", "Create", script)


def lean_run_with_a_failing_entry(lab: Lab, stop: Stop) -> None:
    entries = [{"name": "fine"}, {"name": "broken", "expectedJobStatus": "FAILED"}]
    run_id = lab.run({"entries": entries, "batchSize": 2, "patterns": "lean"}, stop)
    lab.runs.setdefault("failing", run_id)


def full_path(lab: Lab, stop: Stop) -> None:
    lab.run({"entries": [{"name": "full"}], "patterns": "full"}, stop)


def sample_workload(lab: Lab, stop: Stop) -> None:
    """The sample command: fetched beside the script, it reads an object under inputs/ and leaves a file."""
    bucket = lab.stack.stack.outputs["RunsBucketName"]
    lab.client("s3").put_object(Bucket=bucket, Key="inputs/lab.txt", Body=b"least privilege\n")
    lab.run({"entries": [{"name": "digest", "key": "inputs/lab.txt"}], "entry": {"command": "s3-digest"}}, stop)


def rerun(lab: Lab, stop: Stop) -> None:
    lab.run({"rerunOf": lab.runs["failing"]}, stop)


def stopped_by_hand(lab: Lab, stop: Stop) -> None:
    """Stopped while its job works: the terminator ends the run, the job reports its termination."""
    since = time.monotonic()
    execution, _ = lab.start({"entries": [{"name": "stopped"}], "patterns": "lean"})
    heartbeats = lambda: lab.calls_of("JobRole", "states:SendTaskHeartbeat", since)  # noqa: E731
    if not lab.wait(heartbeats, stop, "the job's first heartbeat"):
        return
    lab.client("stepfunctions").stop_execution(executionArn=execution, error="Test.Stopped", cause="by hand")
    lab.wait(lambda: lab.calls_of("JobRole", "states:SendTaskFailure", since), stop, "the job's report")


def stopped_in_the_array_job(lab: Lab, stop: Stop) -> None:
    """Stopped while the array job waits for room: the .sync task terminates it."""
    lab.client("batch").update_compute_environment(computeEnvironment=lab._compute_environment(), state="DISABLED")
    since = time.monotonic()
    execution, run_id = lab.start({"entries": [{"name": "array"}], "patterns": "full"})
    if not lab.wait(lambda: lab.jobs_of(run_id), stop, "the array job"):
        return
    lab.client("stepfunctions").stop_execution(executionArn=execution, error="Test.Stopped", cause="by hand")
    terminated = lambda: lab.calls_of("OrchestratorStateMachineRole", "batch:TerminateJob", since)  # noqa: E731
    lab.wait(terminated, stop, "the array job's termination")


def stopped_in_the_nested_execution(lab: Lab, stop: Stop) -> None:
    """Stopped while the nested execution waits for its callback: the .sync:2 task stops it."""
    notify = lab.stack.stack.outputs["CallbackNotifyFunctionName"]
    lab.emulator.lambdas.crashes[notify] = 1  # its callback comes a minute later, if ever
    since, invocations = time.monotonic(), lab.emulator.lambdas.journal.invocations
    before = len(invocations)
    execution, _ = lab.start({"entries": [{"name": "nested"}], "patterns": "full"})
    crashed = lambda: any(i.function_name == notify for i in invocations[before:])  # noqa: E731
    if not lab.wait(crashed, stop, "the nested execution's callback"):
        return
    lab.client("stepfunctions").stop_execution(executionArn=execution, error="Test.Stopped", cause="by hand")
    stopped = lambda: lab.calls_of("OrchestratorStateMachineRole", "states:StopExecution", since)  # noqa: E731
    lab.wait(stopped, stop, "the nested execution's stop")


def dead_job(lab: Lab, stop: Stop) -> None:
    """One job dies without reporting while its sibling hangs: the dead job's task is failed for it, the
    run fails, and the jobs still running are terminated."""
    since = time.monotonic()
    execution, run_id = lab.start({"entries": [{"name": "dies"}, {"name": "hangs"}], "batchSize": 1})
    started = lambda: len(lab.calls_of("JobRole", "states:SendTaskHeartbeat", since)) >= 2  # noqa: E731
    if not lab.wait(started, stop, "both jobs' first heartbeats"):
        return
    dies, hangs = sorted(lab.jobs_of(run_id, ("RUNNING",)), key=lambda j: j["jobName"])
    running = lab.emulator.batch.running
    for job, sent in ((hangs, signal.SIGSTOP), (dies, signal.SIGKILL)):
        if (process := running.get(job["jobId"])) is not None:
            signal_group(process, sent)
    if not lab.wait(lambda: lab.ended(execution), stop, "the run's end"):
        return
    terminated = lambda: lab.calls_of("FinishRunFunctionRole", "batch:TerminateJob", since)  # noqa: E731
    if not lab.wait(terminated, stop, "the hanging job's termination"):
        return
    process = running.get(hangs["jobId"])
    if process is not None:
        signal_group(process, signal.SIGCONT)  # it handles the TERM it was sent, and reports it
    lab.wait(lambda: lab.calls_of("JobRole", "states:SendTaskFailure", since), stop, "the hanging job's report")


def stack_deleted(lab: Lab, stop: Stop) -> None:
    """What the script publisher does as the stack is deleted: it empties the script bucket (last)."""
    parameters = lab.stack.stack.parameters
    script = {"Bucket": lab.stack.stack.outputs["ScriptBucketName"], "Key": parameters["BatchScriptName"]}
    lab.invoke_custom_resource("ScriptPublisherFunction", "Delete", script)


SCENARIOS: dict[str, Callable[[Lab, Stop], None]] = {
    "deploy": deploy,
    "lean run with a failing entry": lean_run_with_a_failing_entry,
    "full path": full_path,
    "sample workload": sample_workload,
    "rerun of the failed run": rerun,
    "run stopped by hand": stopped_by_hand,
    "run stopped in its array job": stopped_in_the_array_job,
    "run stopped in its nested execution": stopped_in_the_nested_execution,
    "dead job": dead_job,
    "stack deleted": stack_deleted,  # last: it empties the script bucket
}


# == the test =================================================================================
@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(port=free_port(), enforce_iam=True) as running:
        yield running


@pytest.fixture(scope="module")
def lab(emulator: Emulator) -> Iterator[Lab]:
    journal, sink = Journal(), ResponseSink()
    previous, iam_enforcement.journal = iam_enforcement.journal, journal
    try:
        yield Lab(emulator, deployed(emulator, "least-privilege", PARAMETERS), journal, sink)
    finally:
        iam_enforcement.journal = previous
        sink.stop()


@pytest.mark.timeout(1800)
def test_every_statement_of_the_roles_is_used_and_needed_where_it_is_used(lab: Lab, capsys: pytest.CaptureFixture):
    """Each scenario runs, then each statement it used first is removed while it runs again: scenario by
    scenario, so that the last one (which empties the script bucket) comes after every other."""
    statements = statements_of(lab.stack)
    first_use: dict[Statement, str] = {}
    refusals: list[Call] = []  # of the scenarios run with every statement in place
    not_needed, rounds = [], []
    spent = {"scenarios": 0.0, "removals": 0.0}
    for name, scenario in SCENARIOS.items():
        scenario_started = time.monotonic()
        since = 0.0 if name == "deploy" else scenario_started  # the deploy itself ran first
        if name != "deploy":
            scenario(lab, never)
            lab.settle()
        refusals += [c for c in lab.journal.since(since) if c.statements is None]
        used_first = [s for s in _used(lab.journal, statements, since) if s not in first_use]
        first_use |= dict.fromkeys(used_first, name)
        spent["scenarios"] += time.monotonic() - scenario_started
        for statement in sorted(used_first, key=str):
            round_started = time.monotonic()
            seen = removal_refused(lab, statement, scenario)
            rounds.append(
                f"{time.monotonic() - round_started:5.1f} s  {'refused' if seen else 'NOT REFUSED'}  {statement}"
            )
            spent["removals"] += time.monotonic() - round_started
            if not seen:
                not_needed.append(f"{statement} (used in: {name})")
    gaps = {s: reason for s in statements if (reason := known_gap(s))}
    with capsys.disabled():
        print(
            f"\nleast privilege: {len(statements)} statements, {len(first_use)} used, {len(gaps)} known gaps; "
            f"scenarios {spent['scenarios']:.0f} s, removals {spent['removals']:.0f} s"
        )
        for line in rounds:
            print(f"  {line}")
        for action in sorted(_unused_actions(lab.journal, first_use)):
            print(f"  an action of a used statement no call used: {action}")

    assert not lab.timeouts, f"scenarios that did not get where they go: {lab.timeouts}"
    assert not refusals, f"the application was refused what it does: {refusals[:5]}"
    # (a) every statement used, or a known gap
    unused = [str(s) for s in statements if s not in first_use and s not in gaps]
    assert not unused, f"statements no path of the application uses: {unused}"
    stale = sorted({str(s) for s in gaps if s in first_use})
    assert not stale, f"statements KNOWN_GAPS names that a scenario uses (take them out of the list): {stale}"
    assert set(gaps.values()) == {gap[3] for gap in KNOWN_GAPS}, "a known gap that matches no statement: take it out"
    # (b) every used statement needed where it was used
    assert not not_needed, f"statements whose removal refused nothing: {not_needed}"


def removal_refused(lab: Lab, statement: Statement, scenario: Callable[[Lab, Stop], None]) -> bool:
    """Whether SCENARIO, run again without STATEMENT, is refused a call the statement governs."""
    since = time.monotonic()

    def refused() -> bool:
        return any(
            c.statements is None and c.role == statement.role and statement.covers(c) for c in lab.journal.since(since)
        )

    with removed(lab.stack, statement):
        scenario(lab, refused)
        seen = refused() or lab.wait(refused, never, f"a refusal for {statement}", seconds=REFUSAL_SECONDS)
    lab.settle()
    return seen


def _used(journal: Journal, statements: list[Statement], since: float) -> list[Statement]:
    by_source = {(s.role, s.policy, s.index): s for s in statements}
    used = []
    for call in journal.since(since):
        for policy, index in call.statements or ():
            found = by_source.get((call.role, policy, index))
            if found is not None and found not in used:
                used.append(found)
    return used


def _unused_actions(journal: Journal, used: dict[Statement, str]) -> set[str]:
    """For the report: the actions of used statements that no allowed call was (wildcards aside)."""
    done = {(c.role, c.action.lower()) for c in journal.calls if c.statements}
    return {
        f"{s.logical} {action}"
        for s in used
        for action in s.actions
        if "*" not in action and (s.role, action.lower()) not in done
    }
