"""The custom resource that refuses, during deploy, parameter relations CloudFormation's Rules cannot express."""

from typing import Any

import pytest

from tests.support.handlers import load_handler
from tests.support.paths import FUNCTIONS
from tests.support.template import sam_template

DEFAULTS = {
    name: str(sam_template()["Parameters"][name]["Default"])
    for name in (
        "JobHeartbeatSeconds",
        "JobCallbackTimeoutSeconds",
        "ChildTimeoutSeconds",
        "NestedWaitSeconds",
        "ArrayJobSize",
    )
}


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


def test_the_templates_defaults_pass(check, responses):
    check.handler(request("Create", responses.url), None)
    assert [r["Status"] for r in responses.received] == ["SUCCESS"]


@pytest.mark.parametrize(
    ("parameters", "reason"),
    [
        (
            {"JobHeartbeatSeconds": "3600"},
            "JobHeartbeatSeconds (3600) must be less than JobCallbackTimeoutSeconds (3600)",
        ),
        ({"ChildTimeoutSeconds": "7200"}, "ChildTimeoutSeconds (7200) must be at least 9006"),
        ({"ChildTimeoutSeconds": "5401", "ArrayJobSize": "0", "NestedWaitSeconds": "0"}, None),
        ({"ChildTimeoutSeconds": "5400", "ArrayJobSize": "1", "NestedWaitSeconds": "0"}, "must be at least 5401"),
    ],
)
def test_each_relation_is_checked_and_named(check, responses, parameters, reason):
    check.handler(request("Update", responses.url, **parameters), None)
    [answer] = responses.received
    if reason is None:
        assert answer["Status"] == "SUCCESS"
    else:
        assert answer["Status"] == "FAILED" and reason in answer["Reason"]


def test_both_problems_are_named_at_once(check, responses):
    check.handler(request("Create", responses.url, JobHeartbeatSeconds="9999", ChildTimeoutSeconds="60"), None)
    [answer] = responses.received
    assert "JobHeartbeatSeconds (9999)" in answer["Reason"] and "ChildTimeoutSeconds (60)" in answer["Reason"]


def test_delete_never_fails(check, responses):
    check.handler(request("Delete", responses.url, JobHeartbeatSeconds="9999"), None)
    assert [r["Status"] for r in responses.received] == ["SUCCESS"]


def test_an_unreadable_parameter_fails_the_deploy(check, responses):
    check.handler(request("Create", responses.url, ChildTimeoutSeconds="soon"), None)
    [answer] = responses.received
    assert answer["Status"] == "FAILED" and "ValueError" in answer["Reason"] and "soon" in answer["Reason"]
