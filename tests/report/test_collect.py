"""collect: a run read from S3 and DynamoDB (moto) and Step Functions and Batch (fakes.py)."""

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from run_report.collect import Locations, ReportError, collect
from run_report.jobs import describe_jobs
from tests.report.fakes import FakeBatch, FakeStepFunctions, child, client_error, job
from tests.report.fixtures import COST, REGION_ACCOUNT, T0, result_line

WHERE = Locations("runs", "audit")
RUN = "run-7"
ARN = f"arn:aws:states:{REGION_ACCOUNT}:execution:s-orchestrator:{RUN}"


@pytest.fixture
def stores() -> Iterator[SimpleNamespace]:
    with mock_aws():
        s3, dynamodb = boto3.client("s3"), boto3.client("dynamodb")
        s3.create_bucket(Bucket=WHERE.bucket)
        dynamodb.create_table(
            TableName=WHERE.table,
            AttributeDefinitions=[
                {"AttributeName": "runId", "AttributeType": "S"},
                {"AttributeName": "entryIndex", "AttributeType": "N"},
            ],
            KeySchema=[
                {"AttributeName": "runId", "KeyType": "HASH"},
                {"AttributeName": "entryIndex", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield SimpleNamespace(s3=s3, dynamodb=dynamodb)


def store_run(stores: SimpleNamespace, batches: int, size: int, failed: set[int], ended: bool = True) -> None:
    """BATCHES batches of SIZE entries: their results, audit items and (when ENDED) summary.json."""
    statuses = []
    for number in range(batches):
        first, last = number * size, number * size + size - 1
        status = "FAILED" if number in failed else "SUCCEEDED"
        lines = [result_line(i, status) for i in range(first, last + 1)]
        statuses += [status] * size
        body = "".join(json.dumps(line) + "\n" for line in lines)
        stores.s3.put_object(Bucket=WHERE.bucket, Key=f"runs/{RUN}/results/{first:09d}-{last:09d}.jsonl", Body=body)
        stores.dynamodb.put_item(
            TableName=WHERE.table,
            Item={
                "runId": {"S": RUN},
                "entryIndex": {"N": str(first)},
                "lastIndex": {"N": str(last)},
                "status": {"S": status},
                "jobId": {"S": f"job-{number}"},
                "childExecutionArn": {"S": child(number)["executionArn"]},
            },
        )
    succeeded = statuses.count("SUCCEEDED")
    run_item = {"runId": {"S": RUN}, "entryIndex": {"N": "-1"}, "total": {"N": str(len(statuses))}}
    stores.dynamodb.put_item(TableName=WHERE.table, Item=run_item | {"succeeded": {"N": str(succeeded)}})
    if ended:
        summary = {"runId": RUN, "status": "FAILED" if failed else "SUCCEEDED", "total": len(statuses)}
        summary |= {"succeeded": succeeded, "failed": len(statuses) - succeeded, "notRun": 0, "cost": COST}
        stores.s3.put_object(Bucket=WHERE.bucket, Key=f"runs/{RUN}/summary.json", Body=json.dumps(summary))


def clients(stores: SimpleNamespace, sfn: Any, batch: Any) -> SimpleNamespace:
    return SimpleNamespace(sfn=sfn, s3=stores.s3, dynamodb=stores.dynamodb, batch=batch)


def parent(status: str = "FAILED") -> dict[str, Any]:
    described = {"executionArn": ARN, "status": status, "startDate": T0}
    return described if status == "RUNNING" else described | {"stopDate": T0.replace(minute=5)}


def test_a_whole_run_is_read_batches_joined_to_their_children_and_jobs(stores):
    store_run(stores, batches=120, size=5, failed={3, 50})
    children = [child(n, "FAILED" if n in (3, 50) else "SUCCEEDED") for n in range(121)]  # b120: no item
    jobs = {f"job-{n}": job(f"job-{n}", n) for n in range(120) if n != 7}  # job-7: Batch forgot it
    batch = FakeBatch(jobs, throttled=1)

    data = collect(clients(stores, FakeStepFunctions(parent(), children), batch), ARN, WHERE)

    assert (data.status, data.total, data.counts["FAILED"], data.entries_read) == ("FAILED", 600, 10, 600)
    assert batch.calls == [100, 100, 20], "100 ids a call, the throttled one again"
    assert len(data.batches) == 121 and data.batches[-1].first is None
    third = data.batches[3]
    assert (third.first, third.last, third.child_status, third.job_status) == (15, 19, "FAILED", "SUCCEEDED")
    assert third.child_started == children[3]["startDate"] and third.job_started is not None
    assert data.batches[7].job_started is None
    assert data.notes == ["jobs no longer described by Batch: 1 (it forgets ended jobs after a while)"]
    assert data.map_run_counts == {"succeeded": 119, "failed": 2, "total": 121}
    assert [(g.error, g.count) for g in data.failures] == [("Job.SimulatedFailure", 10)]
    assert data.throughput.total == 600 and len(data.slowest) == 20
    assert data.cost == COST and data.durations is None
    assert data.results_uri == f"s3://runs/runs/{RUN}/results/"


def test_a_run_in_progress_is_read_as_far_as_it_has_gone(stores):
    store_run(stores, batches=3, size=4, failed=set(), ended=False)
    children = [child(0), child(1), child(2, running=True)]
    sfn = FakeStepFunctions(parent("RUNNING"), children)

    data = collect(clients(stores, sfn, FakeBatch({"job-0": job("job-0", 0)})), ARN, WHERE)

    assert data.in_progress and data.summary == {} and data.stopped_at is None
    assert data.total == 12 and data.counts == {"SUCCEEDED": 12}
    assert data.batches[2].child_stopped is None
    assert data.notes == ["jobs no longer described by Batch: 2 (it forgets ended jobs after a while)"]


def test_a_run_without_results_keeps_the_summarys_failure_groups(stores):
    summary = {"total": 3, "succeeded": 1, "failed": 2, "notRun": 0}
    summary["failures"] = [{"error": "Job.Failed", "count": 2, "example": {"index": 1, "name": "b", "cause": "c"}}]
    stores.s3.put_object(Bucket=WHERE.bucket, Key=f"runs/{RUN}/summary.json", Body=json.dumps(summary))

    data = collect(clients(stores, FakeStepFunctions(parent(), []), FakeBatch({})), ARN, WHERE)

    assert [(g.error, g.count, g.example_name) for g in data.failures] == [("Job.Failed", 2, "b")]
    assert data.batches == [] and data.throughput.starts == []


def test_an_arn_that_names_no_run_is_refused_clearly(stores):
    fakes = clients(stores, FakeStepFunctions(parent(), []), FakeBatch({}))

    with pytest.raises(ReportError, match="not a run's execution ARN"):
        collect(fakes, ARN.replace(":execution:", ":stateMachine:"), WHERE)
    with pytest.raises(ReportError, match="not a run's execution ARN"):
        collect(fakes, child(1)["executionArn"], WHERE)
    with pytest.raises(ReportError, match=r"no such execution: .*ExecutionDoesNotExist"):
        collect(fakes, ARN + "x", WHERE)


def test_describe_jobs_backs_off_when_throttled_and_gives_up_on_other_errors():
    slept: list[float] = []
    batch = FakeBatch({f"j{n}": {"jobId": f"j{n}"} for n in range(250)}, throttled=3)

    found = describe_jobs(batch, [f"j{n}" for n in range(250)] * 2, sleep=slept.append)

    assert len(found) == 250 and batch.calls == [100] * 4 + [100, 50]
    assert len([s for s in slept if s >= 0.1]) == 3, "one backoff per throttled call"

    class Denied:
        def describe_jobs(self, jobs):
            raise client_error("AccessDeniedException", "DescribeJobs")

    with pytest.raises(Exception, match="AccessDeniedException"):
        describe_jobs(Denied(), ["j1"], sleep=slept.append)


def test_a_summary_that_is_not_json_is_noted_and_the_rest_shown(stores):
    store_run(stores, batches=2, size=2, failed=set())
    stores.s3.put_object(Bucket=WHERE.bucket, Key=f"runs/{RUN}/summary.json", Body=b"{cut short")

    data = collect(clients(stores, FakeStepFunctions(parent(), [child(0), child(1)]), FakeBatch({})), ARN, WHERE)

    assert data.notes[0] == f"s3://runs/runs/{RUN}/summary.json is not JSON"
    assert data.entries_read == 4 and data.counts == {"SUCCEEDED": 4}
