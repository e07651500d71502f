"""The run's cost (functions/runs/run_cost.py, usage.py): what an invocation records, how requests
are billed, and each job's Fargate time from Batch's record of its attempts."""

from collections import Counter
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from tests.support.handlers import load_handler
from tests.support.lambda_context import FakeLambdaContext
from tests.support.paths import FUNCTIONS

T0 = 1_700_000_000_000  # ms
SIZE = [{"type": "VCPU", "value": "0.5"}, {"type": "MEMORY", "value": "2048"}]


@pytest.fixture
def run_cost() -> Any:
    return load_handler(FUNCTIONS / "runs", "run_cost")


@pytest.fixture
def usage() -> Any:
    return load_handler(FUNCTIONS / "runs", "usage")


def batch_client() -> Any:
    return boto3.client("batch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def job(job_id: str, status: str = "SUCCEEDED", attempts: list[tuple[int, int]] = (), **more: Any) -> dict[str, Any]:
    described = {
        "jobId": job_id,
        "jobName": job_id,
        "jobQueue": "q",
        "jobDefinition": "d",
        "status": status,
        "startedAt": T0,
        "attempts": [{"startedAt": a, "stoppedAt": b} for a, b in attempts],
        "container": {"resourceRequirements": SIZE},
    }
    return described | more


def test_each_attempt_bills_from_its_start_to_its_stop_a_minute_at_least(run_cost):
    batch = batch_client()
    with Stubber(batch) as stub:
        # 30 s (billed 60), then 90.2 s (billed 91, rounded up to the second)
        stub.add_response("describe_jobs", {"jobs": [job("a", attempts=[(T0, T0 + 30_000), (T0, T0 + 90_200)])]})
        fargate = run_cost.fargate_of(batch, ["a"], T0)
    assert (fargate.tasks, fargate.vcpu_seconds, fargate.gb_seconds) == (2, 0.5 * 151, 2 * 151)


def test_a_job_still_running_bills_until_now_and_is_named(run_cost):
    batch = batch_client()
    with Stubber(batch) as stub:
        stub.add_response("describe_jobs", {"jobs": [job("a", "RUNNING")]})
        fargate = run_cost.fargate_of(batch, ["a"], T0 + 120_000)
    assert (fargate.tasks, fargate.still_running, fargate.vcpu_seconds) == (1, 1, 60.0)


def test_an_array_job_bills_its_children_not_itself_100_jobs_a_call(run_cost):
    batch = batch_client()
    ids = [f"j{i}" for i in range(150)]
    with Stubber(batch) as stub:
        parent = job("j0", arrayProperties={"size": 2})
        stub.add_response("describe_jobs", {"jobs": [parent] + [job(i) for i in ids[1:100]]}, {"jobs": ids[:100]})
        children = [job(f"j0:{i}", attempts=[(T0, T0 + 61_000)]) for i in range(2)]
        rest = [*ids[100:], "j0:0", "j0:1"]  # the children join the jobs still to describe
        stub.add_response("describe_jobs", {"jobs": [job(i) for i in ids[100:]] + children}, {"jobs": rest})
        fargate = run_cost.fargate_of(batch, ids, T0)
        stub.assert_no_pending_responses()
    assert (fargate.tasks, fargate.vcpu_seconds) == (2, 0.5 * 122), "149 jobs that never started cost nothing"


def test_requests_are_billed_as_s3_and_dynamodb_price_them(usage):
    units = usage.request_units
    assert units("s3", "PutObject", {}) == units("s3", "ListObjectsV2", {}) == {"s3PutList": 1}
    assert units("s3", "GetObject", {}) == units("s3", "HeadObject", {}) == {"s3Get": 1}
    transaction = {"TransactItems": [{"Update": {}}, {"ConditionCheck": {}}]}
    assert units("dynamodb", "TransactWriteItems", transaction) == {"dynamodbWrites": 4}
    assert units("dynamodb", "Query", {}) == {"dynamodbReads": 1}
    assert units("stepfunctions", "SendTaskSuccess", {}) == {}, "Step Functions bills transitions, not calls"


class RefusingTable:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def update_item(self, **request: Any) -> None:
        self.calls.append(request)
        raise RuntimeError("throttled")


def test_an_invocations_usage_is_added_to_its_item_and_never_fails_it(usage, monkeypatch):
    monkeypatch.setenv("AUDIT_TABLE", "audit")
    table = RefusingTable()

    @usage.metered(table)
    def handler(event: Any, context: Any) -> str:
        usage.METER.charge_to("run-1", 200)
        usage.METER.counts.update({"s3Get": 2})
        return "done"

    assert handler({}, FakeLambdaContext(memory_limit_in_mb=512)) == "done"
    [call] = table.calls
    assert call["Key"] == {"runId": {"S": "run-1"}, "entryIndex": {"N": "200"}}
    values = {name[1:]: int(value["N"]) for name, value in call["ExpressionAttributeValues"].items()}
    assert values == {"s3Get": 2, "dynamodbWrites": 1, "lambdaRequests": 1, "lambdaMbMs": values["lambdaMbMs"]}
    assert values["lambdaMbMs"] % 512 == 0 and call["UpdateExpression"].startswith("ADD ")


def test_an_invocation_that_charged_no_item_records_nothing(usage, monkeypatch):
    monkeypatch.setenv("AUDIT_TABLE", "audit")
    table = RefusingTable()
    usage.metered(table)(lambda event, context: None)({}, FakeLambdaContext())
    assert table.calls == []


def test_the_cost_is_the_usage_at_list_prices(run_cost):
    used = Counter({"transitions": 1000, "lambdaRequests": 1_000_000, "lambdaMbMs": 1024 * 1000, "s3PutList": 1000})
    fargate = run_cost.Fargate(tasks=1, vcpu_seconds=3600, gb_seconds=3600, still_running=0)
    cost = run_cost.cost_of(used, fargate)
    assert cost["parts"] == {
        "Step Functions": 0.025,
        "Lambda": round(0.20 + 0.0000166667, 6),
        "Fargate": round(0.04048 + 0.004445, 6),
        "S3": 0.005,
        "DynamoDB": 0.0,
    }
    assert cost["total"] == pytest.approx(sum(cost["parts"].values()), abs=1e-6)
    assert cost["usage"]["lambdaGbSeconds"] == 1.0
