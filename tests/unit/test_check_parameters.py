"""The custom resource that refuses, during deploy, parameter relations CloudFormation's Rules cannot express."""

from typing import Any

import pytest

from tests.support.handlers import load_handler
from tests.support.paths import FUNCTIONS
from tests.support.template import sam_template

CHECKED = (
    "JobHeartbeatSeconds",
    "JobCallbackTimeoutSeconds",
    "MapMaxConcurrency",
    "MaxVcpus",
    "JobVcpu",
    "Patterns",
    "ArrayJobSize",
)
DEFAULTS = {name: str(sam_template()["Parameters"][name]["Default"]) for name in CHECKED}


@pytest.fixture
def check() -> Any:
    return load_handler(FUNCTIONS / "check_parameters")


def request(kind: str, url: str, **parameters: str) -> dict[str, Any]:
    return {
        "RequestType": kind,
        "ResponseURL": url,
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/app/1",
        "RequestId": "r1",
        "LogicalResourceId": "ParameterCheck",
        "ResourceProperties": {"ServiceToken": "arn", "ServiceTimeout": "120", **DEFAULTS, **parameters},
    }


def test_the_template_passes_the_check_every_parameter_it_reads():
    properties = sam_template()["Resources"]["ParameterCheck"]["Properties"]
    assert set(properties) - {"ServiceToken", "ServiceTimeout"} == set(CHECKED)
    assert all(properties[name] == {"Ref": name} for name in CHECKED)


def test_the_templates_defaults_pass(check, responses):
    check.handler(request("Create", responses.url), None)
    assert [r["Status"] for r in responses.received] == ["SUCCESS"]
    assert check.problems(DEFAULTS) == []


def test_the_templates_defaults_pass_on_the_full_path_too(check):
    """The demo and the emulator's full stack take the full path with the other defaults."""
    assert check.problems({**DEFAULTS, "Patterns": "full"}) == []


@pytest.mark.parametrize(
    ("parameters", "reason"),
    [
        (
            {"JobHeartbeatSeconds": "3600"},
            "JobHeartbeatSeconds (3600) must be less than JobCallbackTimeoutSeconds (3600)",
        ),
        ({"JobHeartbeatSeconds": "3599"}, None),
        ({"JobHeartbeatSeconds": "120", "JobCallbackTimeoutSeconds": "120"}, "JobHeartbeatSeconds (120) must be less"),
        (
            {"MapMaxConcurrency": "65", "MaxVcpus": "16"},
            "MapMaxConcurrency (65) must be at most MaxVcpus / JobVcpu (16 / 0.25 = 64)",
        ),
        ({"MapMaxConcurrency": "64", "MaxVcpus": "16"}, None),
        ({"MapMaxConcurrency": "32", "MaxVcpus": "16", "JobVcpu": "0.5"}, None),
        (
            {"MapMaxConcurrency": "33", "MaxVcpus": "16", "JobVcpu": "0.5"},
            "MapMaxConcurrency (33) must be at most MaxVcpus / JobVcpu (16 / 0.5 = 32)",
        ),
        # The full path's array job runs ArrayJobSize jobs of a batch at once.
        (
            {"Patterns": "full", "ArrayJobSize": "2", "MapMaxConcurrency": "64", "MaxVcpus": "16"},
            "MapMaxConcurrency (64) must be at most MaxVcpus / JobVcpu / ArrayJobSize (16 / 0.25 / 2 = 32) with "
            "Patterns full: each batch's array job runs 2 jobs at once",
        ),
        ({"Patterns": "full", "ArrayJobSize": "2", "MapMaxConcurrency": "32", "MaxVcpus": "16"}, None),
        (
            {"Patterns": "full", "ArrayJobSize": "10", "MapMaxConcurrency": "7", "MaxVcpus": "16", "JobVcpu": "1"},
            "MapMaxConcurrency (7) must be at most MaxVcpus / JobVcpu / ArrayJobSize (16 / 1 / 10 = 1)",
        ),
        # An array job of 0 or 1 is left out; the lean path runs none.
        ({"Patterns": "full", "ArrayJobSize": "1", "MapMaxConcurrency": "64", "MaxVcpus": "16"}, None),
        ({"Patterns": "full", "ArrayJobSize": "0", "MapMaxConcurrency": "64", "MaxVcpus": "16"}, None),
        ({"Patterns": "lean", "ArrayJobSize": "10", "MapMaxConcurrency": "64", "MaxVcpus": "16"}, None),
        # Whole jobs only: 10 vCPUs run two 4-vCPU jobs at once, not 2.5.
        ({"MapMaxConcurrency": "2", "MaxVcpus": "10", "JobVcpu": "4"}, None),
        (
            {"MapMaxConcurrency": "3", "MaxVcpus": "10", "JobVcpu": "4"},
            "MapMaxConcurrency (3) must be at most MaxVcpus / JobVcpu (10 / 4 = 2)",
        ),
        ({"MapMaxConcurrency": "1", "MaxVcpus": "1", "JobVcpu": "1"}, None),
    ],
)
def test_each_relation_is_checked_and_named(check, responses, parameters, reason):
    check.handler(request("Update", responses.url, **parameters), None)
    [answer] = responses.received
    if reason is None:
        assert (answer["Status"], answer["Reason"]) == ("SUCCESS", "ok")
    else:
        assert answer["Status"] == "FAILED" and reason in answer["Reason"]
        assert len(check.problems({**DEFAULTS, **parameters})) == 1


def test_both_problems_are_named_at_once(check, responses):
    check.handler(request("Create", responses.url, JobHeartbeatSeconds="9999", MapMaxConcurrency="1000"), None)
    [answer] = responses.received
    assert answer["Status"] == "FAILED"
    assert "JobHeartbeatSeconds (9999)" in answer["Reason"] and "MapMaxConcurrency (1000)" in answer["Reason"]


def test_the_answer_names_the_resource_and_request(check, responses):
    check.handler(request("Create", responses.url), None)
    [answer] = responses.received
    assert {k: answer[k] for k in ("StackId", "RequestId", "LogicalResourceId", "PhysicalResourceId")} == {
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/app/1",
        "RequestId": "r1",
        "LogicalResourceId": "ParameterCheck",
        "PhysicalResourceId": "ParameterCheck",
    }


def test_delete_never_fails(check, responses):
    check.handler(request("Delete", responses.url, JobHeartbeatSeconds="9999", MapMaxConcurrency="soon"), None)
    assert [r["Status"] for r in responses.received] == ["SUCCESS"]


@pytest.mark.parametrize(
    ("parameters", "named"),
    [
        ({"MapMaxConcurrency": "soon"}, "soon"),
        ({"JobVcpu": "0"}, "ZeroDivisionError"),
        ({"MaxVcpus": "x"}, "could not convert string to float: 'x'"),
    ],
)
def test_an_unreadable_parameter_fails_the_deploy(check, responses, parameters, named):
    check.handler(request("Create", responses.url, **parameters), None)
    [answer] = responses.received
    assert answer["Status"] == "FAILED" and "the parameter check failed" in answer["Reason"]
    assert named in answer["Reason"]


def test_a_missing_parameter_fails_the_deploy(check, responses):
    event = request("Create", responses.url)
    del event["ResourceProperties"]["MaxVcpus"]
    check.handler(event, None)
    [answer] = responses.received
    assert answer["Status"] == "FAILED" and "KeyError" in answer["Reason"] and "MaxVcpus" in answer["Reason"]
