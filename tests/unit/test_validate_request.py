"""The request validator: every rule, and causes that say exactly what is wrong."""

import json
from typing import Any

import pytest

from tests.support.handlers import load_handler
from tests.support.paths import FUNCTIONS, TEST_INPUTS

CHILD_PREFIX = "arn:aws:states:us-east-1:123456789012:execution:SyncNestedStateMachine-AbCdEfGh1234"


@pytest.fixture
def validate(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("MAX_ENTRIES", "3")
    monkeypatch.setenv("TOLERATED_FAILURE_PERCENTAGE", "50")
    monkeypatch.setenv("CHILD_EXECUTION_ARN_PREFIX", CHILD_PREFIX)
    return load_handler(FUNCTIONS / "validate_request")


def verdict(validate: Any, lambda_context: Any, request: Any) -> dict[str, Any]:
    return validate.lambda_handler(request, lambda_context)


@pytest.mark.parametrize(
    "payload", ["orchestrator-step-function-payload.json", "orchestrator-with-failure-payload.json"]
)
def test_sample_payloads_are_accepted(validate, lambda_context, payload):
    request = json.loads((TEST_INPUTS / payload).read_text())
    total = len(request["input"]["entries"])
    assert verdict(validate, lambda_context, request) == {
        "valid": True,
        "total": total,
        "toleratedFailures": total // 2,
    }


@pytest.mark.parametrize(
    ("request_", "named"),
    [
        ({}, "input: Field required"),
        ({"input": {}}, "input.entries: Field required"),
        ({"input": {"entries": "a"}}, "input.entries: Input should be a valid list"),
        ({"input": {"entries": []}}, "input.entries: List should have at least 1 item"),
        ({"input": {"entries": [{"name": str(i)} for i in range(4)]}}, "4 entries, at most 3 in one run (MaxEntries)"),
        ({"input": {"entries": [7]}}, "input.entries[0]: must be a JSON object, not int"),
        ({"input": {"entries": [{"id": 1}]}}, "input.entries[0].name: Field required"),
        ({"input": {"entries": [{"name": ""}]}}, "input.entries[0].name: String should have at least 1 character"),
        ({"input": {"entries": [{"name": 5}]}}, "input.entries[0].name: Input should be a valid string"),
        (
            {"input": {"entries": [{"name": "a\nb"}]}},
            "input.entries[0].name: Value error, must not contain control characters",
        ),
        ({"input": {"entries": [{"name": "a", "expectedJobStatus": "MAYBE"}]}}, "input.entries[0].expectedJobStatus"),
        (
            {"input": {"entries": [{"name": "a"}, {"name": "a"}]}},
            "input.entries[1].name: duplicate name 'a' (also input.entries[0])",
        ),
        (
            {"input": {"entries": [{"name": "big", "data": "x" * 7200}]}},
            "input.entries[0]: 7232 characters in Batch's container overrides (its JSON, escaped), at most 7168",
        ),
        (
            # Quotes are escaped twice over: 1,800 of them take 7,200 characters.
            {"input": {"entries": [{"name": "quotes", "data": '"' * 1800}]}},
            "input.entries[0]: 7235 characters in Batch's container overrides",
        ),
    ],
)
def test_each_rule_rejects_with_a_cause_naming_the_problem(validate, lambda_context, request_, named):
    result = verdict(validate, lambda_context, request_)
    assert result["valid"] is False and result["error"] == "InvalidRequest"
    assert named in result["cause"]


def test_every_problem_is_listed_up_to_a_bound(validate, lambda_context, monkeypatch):
    monkeypatch.setenv("MAX_ENTRIES", "1000")
    entries = [{"name": "same"} for _ in range(30)]
    result = verdict(validate, lambda_context, {"input": {"entries": entries}})
    assert result["cause"].startswith("29 problem(s): ")
    assert result["cause"].endswith("; and 9 more")
    assert result["cause"].count("duplicate name") == 20


def test_hostile_names_and_fields_are_accepted_as_data(validate, lambda_context):
    entry = {"name": 'quote " backslash \\ unicode é✓ $(rm -rf /)', "nested": {"x": [1, None]}}
    assert verdict(validate, lambda_context, {"input": {"entries": [entry]}})["valid"] is True


@pytest.mark.parametrize(
    ("percentage", "entries", "tolerated"), [("0", 3, 0), ("50", 3, 1), ("34", 3, 1), ("100", 3, 3)]
)
def test_tolerated_failures_round_down(validate, lambda_context, monkeypatch, percentage, entries, tolerated):
    monkeypatch.setenv("TOLERATED_FAILURE_PERCENTAGE", percentage)
    request = {"input": {"entries": [{"name": str(i)} for i in range(entries)]}}
    assert verdict(validate, lambda_context, request)["toleratedFailures"] == tolerated


def test_a_request_whose_account_could_overflow_a_state_is_rejected(validate, lambda_context, monkeypatch):
    monkeypatch.setenv("MAX_ENTRIES", "1000")
    accepted = {"input": {"entries": [{"name": f"entry-{i:03d}"} for i in range(150)]}}
    assert verdict(validate, lambda_context, accepted)["valid"] is True
    long_names = {"input": {"entries": [{"name": f"{i:03d}" + "é" * 253} for i in range(150)]}}
    result = verdict(validate, lambda_context, long_names)
    assert result["valid"] is False
    assert "the run's account of 150 entries could reach" in result["cause"] and "shorter names" in result["cause"]
