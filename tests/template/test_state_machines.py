"""The three state machines as Step Functions would receive them after DefinitionSubstitutions."""

import json
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from tests.support.paths import STATE_MACHINES, TEST_INPUTS
from tests.support.template import PLACEHOLDER, state_machine_files, substituted_definition
from tests.support.tools import tool

NUMERIC_SUBSTITUTIONS = {
    "MapMaxConcurrency",
    "JobSleepSeconds",
    "ArrayJobSize",
    "ChildTimeoutSeconds",
    "JobCallbackTimeoutSeconds",
    "JobHeartbeatSeconds",
    "NestedWaitSeconds",
}
MACHINES = sorted(state_machine_files())


def sample_values(substitutions: dict[str, Any]) -> dict[str, str]:
    """Stand-ins of the right shape for the values CloudFormation substitutes at deploy."""
    values = {}
    for name in substitutions:
        if name in NUMERIC_SUBSTITUTIONS:
            values[name] = "7"
        elif name.endswith("FunctionArn"):
            values[name] = f"arn:aws:lambda:us-east-1:123456789012:function:{name}"
        elif name.endswith("StateMachineArn"):
            values[name] = f"arn:aws:states:us-east-1:123456789012:stateMachine:{name}"
        elif name.endswith("ExecutionArnPrefix"):
            values[name] = f"arn:aws:states:us-east-1:123456789012:execution:{name}"
        elif name.endswith("TableName"):
            values[name] = f"stack-{name}-ABC123"
        elif name.startswith("Job"):
            values[name] = f"arn:aws:batch:us-east-1:123456789012:job-queue/{name}"
        elif name == "StackName":
            values[name] = "sfn-batch-orchestrator"
        else:
            raise AssertionError(f"no sample value for substitution {name}")
    return values


def definition(machine: str) -> dict[str, Any]:
    path, substitutions = state_machine_files()[machine]
    return substituted_definition(path.read_text(), sample_values(substitutions))


def all_states(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        yield name, state
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            yield from all_states(processor["States"])
        for branch in state.get("Branches", []):
            yield from all_states(branch["States"])


def test_there_are_three_machines_each_from_its_own_file():
    assert MACHINES == ["CallbackNotifyStateMachine", "OrchestratorStateMachine", "SyncNestedStateMachine"]
    assert {p.name for p, _ in state_machine_files().values()} == {p.name for p in STATE_MACHINES.glob("*.asl.json")}


@pytest.mark.parametrize("machine", MACHINES)
def test_substitutions_and_placeholders_match_exactly(machine):
    path, substitutions = state_machine_files()[machine]
    placeholders = set(PLACEHOLDER.findall(path.read_text()))
    assert placeholders == set(substitutions), "every ${X} is substituted, every substitution used"


@pytest.mark.parametrize("machine", MACHINES)
def test_statelint_accepts_the_deployed_definition(machine, tmp_path):
    deployed = tmp_path / f"{machine}.json"
    deployed.write_text(json.dumps(definition(machine)))
    result = subprocess.run([tool("statelint", ".venv"), str(deployed)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_statelint_rejects_a_broken_definition(tmp_path):
    """Control: the validator above can fail."""
    broken = definition("CallbackNotifyStateMachine")
    del broken["States"]["Notify"]["Next"]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    result = subprocess.run([tool("statelint", ".venv"), str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0


@pytest.mark.parametrize("machine", MACHINES)
def test_the_step_functions_engine_parses_the_deployed_definition(machine):
    AmazonStateLanguageParser.parse(json.dumps(definition(machine)))


@pytest.mark.parametrize("machine", MACHINES)
def test_no_state_waits_without_a_bound(machine):
    for name, state in all_states(definition(machine)["States"]):
        if state["Type"] != "Task":
            continue
        assert {"TimeoutSeconds", "TimeoutSecondsPath"} & state.keys(), f"{name} has no timeout"
        if state["Resource"].endswith(".waitForTaskToken") and "BatchSubmit" in state["Parameters"]["FunctionName"]:
            # A job can stall silently: its heartbeat tells a dead job from a long one.
            assert {"HeartbeatSeconds", "HeartbeatSecondsPath"} & state.keys(), f"{name} has no heartbeat"


@pytest.mark.parametrize("machine", MACHINES)
def test_retries_are_bounded_and_never_blind(machine):
    for name, state in all_states(definition(machine)["States"]):
        for retrier in state.get("Retry", []):
            assert retrier["MaxAttempts"] <= 5, name
            assert "States.ALL" not in retrier["ErrorEquals"] and "States.TaskFailed" not in retrier["ErrorEquals"], (
                name
            )


# Step Functions names an AWS SDK integration's errors <Service>.<Error>, the service in PascalCase
# as its API reference spells it (the developer guide's "AWS SDK service integrations" page).
AWS_SDK_ERROR_PREFIXES = {"sfn": "Sfn."}


@pytest.mark.parametrize("machine", MACHINES)
def test_aws_sdk_errors_are_caught_by_the_names_step_functions_gives_them(machine):
    for name, state in all_states(definition(machine)["States"]):
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


SETTINGS_STATE = "Load settings"


@pytest.mark.parametrize(
    ("machine", "payload_file", "expected"),
    [
        (
            "OrchestratorStateMachine",
            "orchestrator-step-function-payload.json",
            {"entries": [{"name": "invoke1"}, {"name": "invoke2"}]},
        ),
        (
            "SyncNestedStateMachine",
            "syncnested-step-function-payload.json",
            {"entry": {"name": "invoke1"}, "jobSleepSeconds": 5},
        ),
        (
            "CallbackNotifyStateMachine",
            "callbacknotify-step-function-payload.json",
            {"entry": {"name": "invoke1"}, "waitSeconds": 7},
        ),
    ],
)
def test_sample_payloads_fit_their_machines(machine, payload_file, expected):
    sample = json.loads((TEST_INPUTS / payload_file).read_text())
    if machine == "OrchestratorStateMachine":  # its settings follow the validation's verdict
        sample["validation"] = {"valid": True, "verdict": {"valid": True, "toleratedFailures": 0}}
    output = run_states(definition(machine)["States"], [SETTINGS_STATE], sample)
    assert expected.items() <= output.items()


def test_the_validator_bounds_what_any_failed_entry_adds_to_the_runs_account(monkeypatch):
    """The worst failed entry through the parent's own states: the longest name, the longest error
    name Step Functions allows (256 characters of 4 bytes), a cause of 32 KiB (which stays out)."""
    from tests.support.handlers import load_handler
    from tests.support.paths import FUNCTIONS

    prefix = "arn:aws:states:us-east-1:123456789012:execution:SyncNestedStateMachine-AbCdEfGh1234"
    values = {
        **sample_values(state_machine_files()["OrchestratorStateMachine"][1]),
        "SyncNestedExecutionArnPrefix": prefix,
    }
    path, _ = state_machine_files()["OrchestratorStateMachine"]
    monkeypatch.setattr(
        "tests.template.test_state_machines.definition",
        lambda machine: substituted_definition(path.read_text(), values),
    )
    entry = {"name": '"\\é🚀' * 64}
    iteration = definition("OrchestratorStateMachine")["States"]["Run children"]["ItemProcessor"]["States"]
    failed = run_states(
        iteration,
        ["Entry failed"],
        {
            "index": 9999,
            "entry": entry,
            "childName": f"9999-{'0' * 36}",
            "settings": {},
            "outcome": {"failure": {"Error": "🚀" * 256, "Cause": "c" * 32768}},
        },
    )
    account = run_states(
        iteration,
        ["Account entry"],
        {"account": failed["account"], "job": {"jobId": "0" * 36, "attempts": 10}},
    )
    measured = len(json.dumps(account, separators=(",", ":"), ensure_ascii=False).encode()) + 1  # and its comma

    monkeypatch.setenv("CHILD_EXECUTION_ARN_PREFIX", prefix)
    validator = load_handler(FUNCTIONS / "validate_request")
    assert "cause" not in account
    assert validator.worst_account_bytes([entry]) >= measured
