"""The state machines as Step Functions would receive them after DefinitionSubstitutions, in every shape a
deploy can give them (a substitution chosen by a template condition is checked with each of its values)."""

import copy
import itertools
import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from tests.support.handlers import load_handler
from tests.support.paths import FUNCTIONS, STATE_MACHINES, TEST_INPUTS
from tests.support.template import PLACEHOLDER, state_machine_files, substituted_definition
from tests.support.tools import tool

NUMERIC_SUBSTITUTIONS = {
    "MapMaxConcurrency",
    "JobSleepSeconds",
    "ArrayJobSize",
    "JobCallbackTimeoutSeconds",
    "JobHeartbeatSeconds",
    "NestedWaitSeconds",
}
MACHINES = sorted(state_machine_files())


def choices(substitutions: dict[str, Any]) -> dict[str, tuple[str, str, str]]:
    """Substitutions a template condition chooses: name -> (condition, value if true, value if false)."""
    found = {}
    for name, value in substitutions.items():
        if isinstance(value, dict) and "Fn::If" in value:
            condition, when_true, when_false = value["Fn::If"]
            assert isinstance(when_true, str) and isinstance(when_false, str), f"{name}: a choice of plain values"
            found[name] = (condition, when_true, when_false)
    return found


def deployments(machine: str) -> list[dict[str, bool]]:
    """Every combination of the conditions the machine's substitutions depend on."""
    conditions = sorted({condition for condition, _, _ in choices(state_machine_files()[machine][1]).values()})
    return [
        dict(zip(conditions, values, strict=True))
        for values in itertools.product((True, False), repeat=len(conditions))
    ]


def deployment_id(machine: str, conditions: dict[str, bool]) -> str:
    return "-".join([machine, *(name if value else f"not{name}" for name, value in conditions.items())])


DEPLOYED = [
    pytest.param(machine, conditions, id=deployment_id(machine, conditions))
    for machine in MACHINES
    for conditions in deployments(machine)
]


def sample_values(substitutions: dict[str, Any], conditions: dict[str, bool] | None = None) -> dict[str, str]:
    """Stand-ins of the right shape for the values CloudFormation substitutes at deploy; a value chosen by a
    condition is the one CONDITIONS give it (true unless told)."""
    conditions = conditions or {}
    chosen = choices(substitutions)
    values = {}
    for name in substitutions:
        if name in chosen:
            condition, when_true, when_false = chosen[name]
            values[name] = when_true if conditions.get(condition, True) else when_false
        elif name in NUMERIC_SUBSTITUTIONS:
            values[name] = "7"
        elif name.endswith("FunctionArn"):
            values[name] = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        elif name.endswith("StateMachineArn"):
            values[name] = f"arn:aws:states:us-east-1:123456789012:stateMachine:{name}"
        elif name.endswith("ExecutionArnPrefix"):
            values[name] = f"arn:aws:states:us-east-1:123456789012:execution:{name}"
        elif name.endswith("TableName"):
            values[name] = f"stack-{name}-ABC123"
        elif name == "JobDefinitionArn":
            values[name] = "arn:aws:batch:us-east-1:123456789012:job-definition/sfn-batch-orchestrator-job:1"
        elif name.startswith("Job"):
            values[name] = f"arn:aws:batch:us-east-1:123456789012:job-queue/{name}"
        elif name == "StackName":
            values[name] = "sfn-batch-orchestrator"
        else:
            raise AssertionError(f"no sample value for substitution {name}")
    return values


def definition(machine: str, conditions: dict[str, bool] | None = None) -> dict[str, Any]:
    path, substitutions = state_machine_files()[machine]
    return substituted_definition(path.read_text(), sample_values(substitutions, conditions))


def all_states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        yield name, state
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from all_states(processor["States"])
        for branch in state.get("Branches", []):
            yield from all_states(branch["States"])


def batch_processor_of(orchestrator: dict[str, Any]) -> dict[str, Any]:
    """The child of the orchestrator's Distributed Map: one batch of entries."""
    return orchestrator["States"]["Run batches"]["ItemProcessor"]


def batch_processor(conditions: dict[str, bool] | None = None) -> dict[str, Any]:
    return batch_processor_of(definition("OrchestratorStateMachine", conditions))


def test_there_are_two_machines_each_from_its_own_file():
    assert MACHINES == ["CallbackNotifyStateMachine", "OrchestratorStateMachine"]
    assert {p.name for p, _ in state_machine_files().values()} == {p.name for p in STATE_MACHINES.glob("*.asl.json")}


@pytest.mark.parametrize("machine", MACHINES)
def test_substitutions_and_placeholders_match_exactly(machine):
    path, substitutions = state_machine_files()[machine]
    placeholders = set(PLACEHOLDER.findall(path.read_text()))
    assert placeholders == set(substitutions), "every ${X} is substituted, every substitution used"


# Fields of the Distributed Map that Step Functions documents and statelint 3.1.0 predates (Label, the
# ItemReader's ReaderConfig.InputType for JSONL, the ResultWriter's WriterConfig): statelint's complaint
# about exactly these, on a distributed Map state, is the tool's gap, not the definition's.
STATELINT_UNKNOWN_FIELDS = {("Label", ""), ("InputType", ".ItemReader.ReaderConfig"), ("WriterConfig", ".ResultWriter")}


def statelint_problems(deployed: dict[str, Any], path: Any) -> list[str]:
    path.write_text(json.dumps(deployed))
    result = subprocess.run([tool("statelint", ".venv"), str(path)], capture_output=True, text=True, timeout=60)
    if result.returncode == 0:
        return []
    distributed = {
        f"State Machine.States.{name}"
        for name, state in deployed["States"].items()
        if state.get("ItemProcessor", {}).get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED"
    }
    known = {
        f'Field "{field}" not allowed in {state}{where}'
        for state in distributed
        for field, where in STATELINT_UNKNOWN_FIELDS
    }
    lines = [line.strip() for line in result.stdout.splitlines()[1:] if line.strip()]  # after "N errors:"
    if not lines:
        return [result.stdout + result.stderr]
    return [line for line in lines if line not in known]


@pytest.mark.parametrize(("machine", "conditions"), DEPLOYED)
def test_statelint_accepts_the_deployed_definition(machine, conditions, tmp_path):
    problems = statelint_problems(definition(machine, conditions), tmp_path / f"{machine}.json")
    assert problems == []


def test_statelint_rejects_a_broken_definition(tmp_path):
    """Control: the validator above can fail, also where it forgives the fields it does not know."""
    broken = definition("CallbackNotifyStateMachine")
    del broken["States"]["Notify"]["End"]
    assert statelint_problems(broken, tmp_path / "broken.json") != []
    orchestrator = definition("OrchestratorStateMachine")
    del batch_processor_of(orchestrator)["States"]["Account"]["End"]
    assert statelint_problems(orchestrator, tmp_path / "broken-orchestrator.json") != []


def within_motos_grammar(deployed: dict[str, Any]) -> dict[str, Any]:
    """DEPLOYED less what moto 5.2.5's ASL grammar does not have yet, though Step Functions documents it: the
    Distributed Map's ItemBatcher (its BatchInput is parsed on its own), the ResultWriter's WriterConfig, and
    the ItemReader's JSONL input type (JSON there, parsed the same)."""
    adapted = copy.deepcopy(deployed)
    for _, state in all_states(adapted["States"]):
        batcher = state.pop("ItemBatcher", None)
        if batcher and "BatchInput" in batcher:
            pass_state = {"Type": "Pass", "Parameters": batcher["BatchInput"], "End": True}
            AmazonStateLanguageParser.parse(
                json.dumps({"StartAt": "Batch input", "States": {"Batch input": pass_state}})
            )
        state.get("ResultWriter", {}).pop("WriterConfig", None)
        reader = state.get("ItemReader", {}).get("ReaderConfig", {})
        if reader.get("InputType") == "JSONL":
            reader["InputType"] = "JSON"
    return adapted


@pytest.mark.parametrize(("machine", "conditions"), DEPLOYED)
def test_the_step_functions_engine_parses_the_deployed_definition(machine, conditions):
    AmazonStateLanguageParser.parse(json.dumps(within_motos_grammar(definition(machine, conditions))))


def test_the_step_functions_engine_rejects_a_broken_definition():
    """Control: what is left for moto still fails on a mistake, in the child and in the BatchInput."""
    broken = definition("OrchestratorStateMachine")
    batch_processor_of(broken)["States"]["Account"]["Nxt"] = "Run job"
    with pytest.raises(Exception, match="Nxt"):
        AmazonStateLanguageParser.parse(json.dumps(within_motos_grammar(broken)))
    broken = definition("OrchestratorStateMachine")
    broken["States"]["Run batches"]["ItemBatcher"]["BatchInput"] = ["not", "an", "object"]
    with pytest.raises(Exception, match=r"Parameters|BatchInput|mismatched"):
        within_motos_grammar(broken)


@pytest.mark.parametrize(("machine", "conditions"), DEPLOYED)
def test_no_state_waits_without_a_bound(machine, conditions):
    for name, state in all_states(definition(machine, conditions)["States"]):
        if state["Type"] != "Task":
            continue
        assert {"TimeoutSeconds", "TimeoutSecondsPath"} & state.keys(), f"{name} has no timeout"
        if state["Resource"].endswith(".waitForTaskToken") and "BatchSubmit" in state["Parameters"]["FunctionName"]:
            # A job can stall silently: its heartbeat tells a dead job from a long one.
            assert {"HeartbeatSeconds", "HeartbeatSecondsPath"} & state.keys(), f"{name} has no heartbeat"


@pytest.mark.parametrize(("machine", "conditions"), DEPLOYED)
def test_retries_are_bounded_and_never_blind(machine, conditions):
    for name, state in all_states(definition(machine, conditions)["States"]):
        for retrier in state.get("Retry", []):
            assert retrier["MaxAttempts"] <= 5, name
            assert "States.ALL" not in retrier["ErrorEquals"] and "States.TaskFailed" not in retrier["ErrorEquals"], (
                name
            )


# Step Functions names an AWS SDK integration's errors <Service>.<Error>, the service in PascalCase
# as its API reference spells it (the developer guide's "AWS SDK service integrations" page).
AWS_SDK_ERROR_PREFIXES = {"sfn": "Sfn."}


@pytest.mark.parametrize(("machine", "conditions"), DEPLOYED)
def test_aws_sdk_errors_are_caught_by_the_names_step_functions_gives_them(machine, conditions):
    for name, state in all_states(definition(machine, conditions)["States"]):
        resource = state.get("Resource", "")
        if not resource.startswith("arn:aws:states:::aws-sdk:"):
            continue
        service = resource.split(":")[6]
        assert service in AWS_SDK_ERROR_PREFIXES, f"{name}: how does Step Functions name {service}'s errors?"
        for handler in [*state.get("Retry", []), *state.get("Catch", [])]:
            for error in handler["ErrorEquals"]:
                assert error.startswith(("States.", AWS_SDK_ERROR_PREFIXES[service])), f"{name}: {error}"


def run_states(states: dict[str, Any], names: list[str], payload: dict[str, Any]) -> dict[str, Any]:
    """Run the named STATES, one after the other, in moto's interpreter; their output."""
    chain = {name: {k: v for k, v in states[name].items() if k not in ("Next", "End")} for name in names}
    for name, following in zip(names, [*names[1:], None], strict=True):
        chain[name] |= {"Next": following} if following else {"End": True}
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sfn = boto3.client("stepfunctions")
        arn = sfn.create_state_machine(
            name="some-states",
            definition=json.dumps({"StartAt": names[0], "States": chain}),
            roleArn="arn:aws:iam::123456789012:role/x",
        )["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=arn, name="sample", input=json.dumps(payload))["executionArn"]
        deadline = time.monotonic() + 10
        while (description := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
            assert time.monotonic() < deadline, f"{names} did not finish"
            time.sleep(0.02)
        assert description["status"] == "SUCCEEDED", description
        return json.loads(description["output"])


def without_task_token(parameters: Any) -> Any:
    """PARAMETERS less the fields only a waiting task has ($$.Task.Token)."""
    if isinstance(parameters, dict):
        return {k: without_task_token(v) for k, v in parameters.items() if v != "$$.Task.Token"}
    return parameters


def task_request(state: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    """What the task STATE sends its service for PAYLOAD: its Parameters, run as a Pass state in moto."""
    as_pass = {"Type": "Pass", "Parameters": without_task_token(state["Parameters"])}
    return run_states({"Request": as_pass}, ["Request"], payload)


def request_model() -> Any:
    return load_handler(FUNCTIONS / "runs", "request_model")


@pytest.mark.parametrize(
    ("payload_file", "expected"),
    [
        (
            "orchestrator-step-function-payload.json",
            lambda request, model: request.entries == [{"name": "invoke1"}, {"name": "invoke2"}],
        ),
        (
            "orchestrator-with-failure-payload.json",
            lambda request, model: (
                [model.Entry.model_validate(e).expected_job_status for e in request.entries]
                == ["SUCCEEDED", "FAILED", "SUCCEEDED"]
            ),
        ),
        (
            "orchestrator-large-request-payload.json",
            lambda request, model: request.source is not None and request.source.input_format == "jsonl",
        ),
        (
            "orchestrator-rerun-payload.json",
            lambda request, model: request.rerun_of is not None and request.entries is None,
        ),
    ],
)
def test_sample_payloads_fit_the_orchestrator(payload_file, expected):
    """Each sample, through the parent's first state, is a request the Prepare run function accepts."""
    sample = json.loads((TEST_INPUTS / payload_file).read_text())
    prepare = definition("OrchestratorStateMachine")["States"]["Prepare run"]
    sent = task_request(prepare, sample)["Payload"]
    assert sent["runId"] == "sample"  # the execution's name
    model = request_model()
    assert expected(model.Envelope.model_validate(sent["request"]).input, model)


def test_the_nested_sample_payload_fits_its_machine_and_is_what_a_batch_sends():
    sample = json.loads((TEST_INPUTS / "callbacknotify-step-function-payload.json").read_text())
    sent_by_batch = batch_processor()["States"]["Run nested callback-notify"]["Parameters"]["Input"]
    assert set(sample) == {k.removesuffix(".$") for k in sent_by_batch} - {"AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID"}
    nested = definition("CallbackNotifyStateMachine")["States"]
    assert nested["Wait configured delay"]["SecondsPath"] == "$.waitSeconds"
    assert isinstance(sample["waitSeconds"], int) and sample["waitSeconds"] >= 0
    notified = task_request(nested["Notify"], sample)["Payload"]
    assert notified["output"] == {"notified": True, "runId": sample["runId"], "entries": sample["entries"]}


def chosen(rule: dict[str, Any], batch_input: dict[str, Any]) -> bool:
    """Whether a Choice rule (And, StringEquals, NumericGreaterThanEquals on $.BatchInput...) matches."""
    if "And" in rule:
        return all(chosen(r, batch_input) for r in rule["And"])
    value: Any = {"BatchInput": batch_input}
    for key in rule["Variable"].removeprefix("$.").split("."):
        value = value[key]
    if "StringEquals" in rule:
        return value == rule["StringEquals"]
    if "NumericGreaterThanEquals" in rule:
        return value >= rule["NumericGreaterThanEquals"]
    raise AssertionError(f"a rule this walk does not know: {rule}")


def path_of_one_batch(states: dict[str, Any], start: str, batch_input: dict[str, Any]) -> list[str]:
    """The states a batch enters, StartAt to End, when every task succeeds, given its BATCH_INPUT."""
    path, name = [], start
    while name is not None:
        assert name not in path, f"{name} entered twice"
        state = states[name]
        path.append(name)
        if state["Type"] == "Choice":
            name = next((c["Next"] for c in state["Choices"] if chosen(c, batch_input)), state["Default"])
        else:
            name = state.get("Next")
    return path


@pytest.mark.parametrize("array_job_size", [2, 1, 0])
def test_one_batch_costs_a_few_state_transitions_whatever_its_size(array_job_size):
    """The child's path is fixed, not one per entry: full at most 7 states with the nested machine's 2,
    lean 3."""
    processor = batch_processor()
    nested = definition("CallbackNotifyStateMachine")
    settings = {"settings": {"arrayJobSize": array_job_size}}
    full = path_of_one_batch(processor["States"], processor["StartAt"], {"patterns": "full", **settings})
    lean = path_of_one_batch(processor["States"], processor["StartAt"], {"patterns": "lean", **settings})
    nested_path = path_of_one_batch(nested["States"], nested["StartAt"], {})
    array_job = ["Run array job"] if array_job_size >= 2 else []
    assert full == ["Which path?", *array_job, "Run nested callback-notify", "Run job", "Account"]
    assert nested_path == ["Wait configured delay", "Notify"]
    assert len(full) + len(nested_path) <= 7
    assert lean == ["Which path?", "Run job", "Account"]


@pytest.mark.parametrize(("patterns", "array_job_size", "silent"), itertools.product(["lean", "full"], [2, 1], [0, 1]))
def test_the_run_cost_counts_a_batchs_transitions_as_its_path_enters_them(patterns, array_job_size, silent):
    """run_cost.child_transitions, which the Account function adds to the run's cost, is the path's
    length (with the nested machine's states, and Job went silent after a heartbeat timeout)."""
    run_cost = load_handler(FUNCTIONS / "runs", "run_cost")
    processor, nested = batch_processor(), definition("CallbackNotifyStateMachine")
    batch_input = {"patterns": patterns, "settings": {"arrayJobSize": array_job_size}}
    path = path_of_one_batch(processor["States"], processor["StartAt"], batch_input)
    if silent:
        path.insert(path.index("Account"), "Job went silent")
        assert processor["States"]["Job went silent"]["Next"] == "Account"
    if "Run nested callback-notify" in path:
        path += path_of_one_batch(nested["States"], nested["StartAt"], {})
    state = {"BatchInput": batch_input, **({"heartbeat": {"Error": "States.HeartbeatTimeout"}} if silent else {})}
    assert run_cost.child_transitions(state) == len(path)


def test_the_run_cost_counts_the_parents_transitions_as_its_path_enters_them():
    """A run that reaches its end enters Prepare run, Request valid?, Run batches, Finish run, Run
    failed? and one of its ends; a run the terminator ends was stopped in Run batches."""
    run_cost = load_handler(FUNCTIONS / "runs", "run_cost")
    states = definition("OrchestratorStateMachine")["States"]
    path, name = [], "Prepare run"
    while name is not None:
        path.append(name)
        state = states[name]
        name = state["Choices"][0]["Next"] if name == "Request valid?" else state.get("Next", state.get("Default"))
    assert path[:3] == ["Prepare run", "Request valid?", "Run batches"] and path[3] == "Finish run"
    assert len(path) == run_cost.PARENT_TRANSITIONS["finished"]
    assert path.index("Run batches") + 1 == run_cost.PARENT_TRANSITIONS["terminated"]


def test_every_state_of_a_batch_is_reachable():
    """Step Functions refuses a definition with a state nothing leads to."""
    states = batch_processor()["States"]
    reached = {"Which path?"}
    for state in states.values():
        reached |= {c["Next"] for c in state.get("Choices", [])} | {c["Next"] for c in state.get("Catch", [])}
        reached |= {state[k] for k in ("Next", "Default") if k in state}
    assert reached == set(states)


def test_a_batch_fits_the_submit_functions_asynchronous_invocation():
    """Lambda's asynchronous payload is 256 KiB: a batch's entries leave room for its BatchInput and the
    task's own fields (token, execution ARN, run id)."""
    run_batches = definition("OrchestratorStateMachine")["States"]["Run batches"]
    assert run_batches["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    batcher = run_batches["ItemBatcher"]
    assert 0 < batcher["MaxInputBytesPerBatch"] <= 196608
    assert {"MaxItemsPerBatch", "MaxItemsPerBatchPath"} & batcher.keys()
    run_job = batch_processor()["States"]["Run job"]
    assert run_job["Parameters"]["InvocationType"] == "Event"
    assert run_job["Parameters"]["Payload"]["items.$"] == "$.Items"


def test_every_failure_in_a_batch_is_accounted_for():
    """No error leaves a batch unaccounted: every Catch leads to Account (through Pass states at most);
    only Account's own failure ends the child."""
    states = batch_processor()["States"]
    caught = 0
    for name, state in states.items():
        if state["Type"] == "Task" and name != "Account":
            assert any(c["ErrorEquals"] == ["States.ALL"] for c in state.get("Catch", [])), f"{name} lets errors out"
        for catcher in state.get("Catch", []):
            target = catcher["Next"]
            while states[target]["Type"] == "Pass":
                target = states[target]["Next"]
            assert target == "Account", f"{name}: {catcher['ErrorEquals']} leads to {target}"
            caught += 1
    assert caught >= 4
    assert states["Account"].get("End") is True and "Catch" not in states["Account"]


def test_the_nested_machine_ends_within_the_time_its_batch_gives_it():
    """A batch waits for the nested machine nestedTimeoutSeconds (Prepare run's settings): its wait, then
    its callback's worst case (each timeout retry a full TimeoutSeconds more, every retrier's delays)."""
    notify = definition("CallbackNotifyStateMachine")["States"]["Notify"]
    attempts = 1 + sum(r["MaxAttempts"] for r in notify["Retry"] if r["ErrorEquals"] == ["States.Timeout"])
    delays = sum(
        min(r["IntervalSeconds"] * r.get("BackoffRate", 2.0) ** i, r.get("MaxDelaySeconds", float("inf")))
        for r in notify["Retry"]
        for i in range(r["MaxAttempts"])
    )
    worst = attempts * notify["TimeoutSeconds"] + delays
    prepare = (FUNCTIONS / "runs" / "prepare.py").read_text()
    assert '"nestedTimeoutSeconds": nested_wait + 780,' in prepare
    assert worst < 780, worst
    nested_task = batch_processor()["States"]["Run nested callback-notify"]
    assert nested_task["TimeoutSecondsPath"] == "$.BatchInput.settings.nestedTimeoutSeconds"
