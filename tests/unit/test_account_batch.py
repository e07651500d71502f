"""The account function against moto: each batch's entries counted once in the run's counters, the
results of a batch whose job failed written by it, and the job of such a batch terminated."""

import json
from typing import Any

import pytest

from tests.support.audit_table import audit_item, create_audit_table
from tests.support.batch_queue import fargate_queue, template_job_definition
from tests.support.clients import client
from tests.support.handlers import formatted, load_handler
from tests.support.paths import FUNCTIONS
from tests.support.template import sam_template

RUNS = "runs"
RUN = "run-1"


@pytest.fixture
def account(aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    client("s3").create_bucket(Bucket=RUNS)
    resources = {"RunsBucket": RUNS, "AuditTable": create_audit_table("audit")}
    variables = sam_template()["Resources"]["AccountBatchFunction"]["Properties"]["Environment"]["Variables"]
    for name, value in variables.items():
        monkeypatch.setenv(name, resources[value["Ref"]] if isinstance(value, dict) else str(value))
    # The run's item, as the prepare function leaves it.
    client("dynamodb").put_item(
        TableName="audit",
        Item={
            "runId": {"S": RUN},
            "entryIndex": {"N": "-1"},
            "status": {"S": "RUNNING"},
            "total": {"N": "9"},
            "succeeded": {"N": "0"},
            "failed": {"N": "0"},
        },
    )
    return load_handler(FUNCTIONS / "runs", "account")


def items(first: int, last: int) -> list[dict[str, Any]]:
    return [{"index": i, "name": f"entry-{i}", "entry": {"name": f"entry-{i}", "n": i}} for i in range(first, last + 1)]


def child_state(first: int, last: int, **outcome: Any) -> dict[str, Any]:
    """The child's state when it reaches "Account": its batch, and how its job ended (OUTCOME: job,
    failure, heartbeat, ...)."""
    batch_input = {"runId": RUN, "patterns": "lean", "settings": {"sleepSeconds": 0, "maxConcurrency": 2}}
    return {"Items": items(first, last), "BatchInput": batch_input, **outcome}


def reported(job_id: str, succeeded: int, failed: int) -> dict[str, Any]:
    """What the job's SendTaskSuccess puts at $.job."""
    return {"job": {"jobId": job_id, "attempt": 1, "succeeded": succeeded, "failed": failed}}


def account_for(account: Any, context: Any, state: dict[str, Any]) -> dict[str, Any]:
    return account.lambda_handler({"batch": state}, context)


def run_counts() -> tuple[int, int]:
    item = audit_item("audit", RUN, -1)
    return item["succeeded"], item["failed"]


def results_objects() -> dict[str, list[dict[str, Any]]]:
    s3 = client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=RUNS).get("Contents", [])]
    return {
        key: [json.loads(line) for line in s3.get_object(Bucket=RUNS, Key=key)["Body"].read().decode().splitlines()]
        for key in keys
    }


# ------------------------------------------------------------------ the job reported


def test_a_batch_whose_entries_all_succeeded_is_counted_once(account, lambda_context):
    state = child_state(0, 2, **reported("job-a", 3, 0))

    first = account_for(account, lambda_context, state)
    again = account_for(account, lambda_context, state)  # a retried Account state

    assert first == {"first": 0, "last": 2, "succeeded": 3, "failed": 0, "counted": True}
    assert again == first | {"counted": False}
    assert run_counts() == (3, 0)
    batch = audit_item("audit", RUN, 0)
    accounted = batch.pop("accountedAt")
    assert batch == {
        "runId": RUN,
        "entryIndex": 0,
        "lastIndex": 2,
        "status": "SUCCEEDED",
        "succeeded": 3,
        "failed": 0,
        "jobId": "job-a",
    }
    assert audit_item("audit", RUN, 0)["accountedAt"] == accounted, "the second call changed nothing"
    assert audit_item("audit", RUN, -1)["updatedAt"] == accounted
    assert results_objects() == {}, "the job wrote its entries' results itself"


def test_a_batch_with_failed_entries_fails_its_child_and_is_counted_once(account, lambda_context, caplog):
    state = child_state(3, 5, **reported("job-b", 2, 1))

    with pytest.raises(account.EntriesFailed, match=r"^batch 3-5: 1 of 3 entries failed \(see their results\)$"):
        account_for(account, lambda_context, state)
    assert run_counts() == (2, 1)
    with pytest.raises(account.EntriesFailed):
        account_for(account, lambda_context, state)

    assert run_counts() == (2, 1), "a second call must not count the batch again"
    batch = audit_item("audit", RUN, 3)
    assert (batch["status"], batch["succeeded"], batch["failed"], batch["jobId"]) == ("FAILED", 2, 1, "job-b")
    accounts = [json.loads(line) for line in formatted(account.logger, caplog).splitlines()]
    assert [(r["message"], r.get("counted")) for r in accounts if r["message"].startswith("batch")] == [
        ("batch accounted", True),
        ("batch already accounted", None),
        ("batch accounted", False),
    ]


def test_the_counts_of_every_batch_add_up(account, lambda_context):
    account_for(account, lambda_context, child_state(0, 2, **reported("a", 3, 0)))
    with pytest.raises(account.EntriesFailed):
        account_for(account, lambda_context, child_state(3, 5, **reported("b", 1, 2)))
    account_for(account, lambda_context, child_state(6, 8, **reported("c", 3, 0)))
    account_for(account, lambda_context, child_state(0, 2, **reported("a", 3, 0)))

    assert run_counts() == (7, 2)
    assert [audit_item("audit", RUN, i)["status"] for i in (0, 3, 6)] == ["SUCCEEDED", "FAILED", "SUCCEEDED"]


# ------------------------------------------------------------------ the job failed, or never reported


@pytest.fixture
def job_queue(account: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    batch = client("batch")
    queue = fargate_queue(client("ec2"), client("iam"), batch, "queue", max_vcpus=4)
    return {"queue": queue, "definition": template_job_definition(batch, "job")}


def submitted(job_queue: dict[str, str], first: int, last: int) -> str:
    """A job submitted for the batch FIRST..LAST and recorded on its item, as the submit function does."""
    job_id = client("batch").submit_job(
        jobName=f"run-{RUN}-b{first}", jobQueue=job_queue["queue"], jobDefinition=job_queue["definition"]
    )["jobId"]
    client("dynamodb").put_item(
        TableName="audit",
        Item={
            "runId": {"S": RUN},
            "entryIndex": {"N": str(first)},
            "status": {"S": "SUBMITTED"},
            "lastIndex": {"N": str(last)},
            "jobId": {"S": job_id},
        },
    )
    return job_id


def status_reason(job_id: str) -> str | None:
    [job] = client("batch").describe_jobs(jobs=[job_id])["jobs"]
    return job.get("statusReason")


SILENT = {
    "Error": "Job.HeartbeatTimeout",
    "Cause": "the job sent no heartbeat for JobHeartbeatSeconds: it stopped without reporting, or never started "
    "its script (see the job's status reason)",
}


def test_a_silent_jobs_batch_fails_every_entry_and_its_job_is_terminated(account, job_queue, lambda_context):
    job_id = submitted(job_queue, 3, 5)
    state = child_state(3, 5, heartbeat={"Error": "States.HeartbeatTimeout", "Cause": ""}, failure=SILENT)

    with pytest.raises(account.EntriesFailed, match=r"^batch 3-5: Job\.HeartbeatTimeout$"):
        account_for(account, lambda_context, state)

    assert results_objects() == {
        "runs/run-1/results/000000003-000000005.jsonl": [
            {
                "index": i,
                "name": f"entry-{i}",
                "status": "FAILED",
                "error": "Job.HeartbeatTimeout",
                "cause": SILENT["Cause"],
                "jobId": job_id,
            }
            for i in (3, 4, 5)
        ]
    }
    assert status_reason(job_id) == "batch 3-5 of run run-1 ended with Job.HeartbeatTimeout"
    assert run_counts() == (0, 3)
    batch = audit_item("audit", RUN, 3)
    assert (batch["status"], batch["succeeded"], batch["failed"], batch["jobId"]) == ("FAILED", 0, 3, job_id)
    assert batch["lastIndex"] == 5, "what the submit function recorded stays"


def test_a_failed_batch_accounted_again_is_not_counted_again(account, job_queue, lambda_context):
    job_id = submitted(job_queue, 0, 2)
    state = child_state(0, 2, failure={"Error": "States.Timeout", "Cause": "callback timed out"})

    for _ in range(2):
        with pytest.raises(account.EntriesFailed, match=r"^batch 0-2: States\.Timeout$"):
            account_for(account, lambda_context, state)

    assert run_counts() == (0, 3)
    [results] = results_objects().values()
    assert [(r["index"], r["status"], r["error"], r["cause"], r["jobId"]) for r in results] == [
        (i, "FAILED", "States.Timeout", "callback timed out", job_id) for i in (0, 1, 2)
    ]


def test_a_batch_whose_job_was_never_submitted_fails_without_a_job(account, lambda_context):
    """The submit function refused the batch (it failed the task): no job to terminate or name."""
    from botocore.stub import Stubber

    cause = "submit request rejected: items.0.entry: Input should be a valid dictionary"
    state = child_state(6, 8, failure={"Error": "InvalidInput", "Cause": cause})

    with Stubber(account.batch), pytest.raises(account.EntriesFailed, match=r"^batch 6-8: InvalidInput$"):
        account_for(account, lambda_context, state)  # any call to Batch would fail the stub

    [results] = results_objects().values()
    assert results == [
        {"index": i, "name": f"entry-{i}", "status": "FAILED", "error": "InvalidInput", "cause": cause}
        for i in (6, 7, 8)
    ]
    batch = audit_item("audit", RUN, 6)
    assert "jobId" not in batch and (batch["status"], batch["failed"]) == ("FAILED", 3)
    assert run_counts() == (0, 3)


def test_a_failure_without_a_name_is_a_batch_failure_and_a_long_cause_is_cut(account, lambda_context):
    state = child_state(0, 0, failure={"Cause": "é" * 5000})

    with pytest.raises(account.EntriesFailed, match=r"^batch 0-0: Batch\.Failed$"):
        account_for(account, lambda_context, state)

    [[result]] = results_objects().values()
    assert result == {"index": 0, "name": "entry-0", "status": "FAILED", "error": "Batch.Failed", "cause": "é" * 1024}


def test_a_failure_with_no_detail_at_all_still_accounts_the_batch(account, lambda_context):
    with pytest.raises(account.EntriesFailed, match=r"^batch 0-1: Batch\.Failed$"):
        account_for(account, lambda_context, child_state(0, 1, failure={}))

    [results] = results_objects().values()
    assert [(r["status"], r["error"], r["cause"]) for r in results] == [("FAILED", "Batch.Failed", "")] * 2
    assert run_counts() == (0, 2)


def test_a_job_that_cannot_be_terminated_does_not_stop_the_account(account, lambda_context, caplog):
    from botocore.stub import Stubber

    client("dynamodb").put_item(
        TableName="audit", Item={"runId": {"S": RUN}, "entryIndex": {"N": "0"}, "jobId": {"S": "job-gone"}}
    )
    with Stubber(account.batch) as batch:
        batch.add_client_error(
            "terminate_job",
            service_error_code="ClientException",
            expected_params={"jobId": "job-gone", "reason": "batch 0-1 of run run-1 ended with States.Timeout"},
        )
        with pytest.raises(account.EntriesFailed):
            account_for(account, lambda_context, child_state(0, 1, failure={"Error": "States.Timeout"}))
        batch.assert_no_pending_responses()

    assert run_counts() == (0, 2)
    assert [r["jobId"] for r in next(iter(results_objects().values()))] == ["job-gone", "job-gone"]
    assert '"reason":"ClientException"' in formatted(account.logger, caplog).replace(" ", "")


@pytest.mark.parametrize(
    "state",
    [
        {"Items": [], "BatchInput": {"runId": RUN}},
        {"BatchInput": {"runId": RUN}, "failure": {}},
        {"Items": items(0, 0), "BatchInput": {"runId": RUN}, "job": {"jobId": "a", "succeeded": -1, "failed": 0}},
        {"Items": items(0, 0), "BatchInput": {"runId": RUN}, "job": {"succeeded": 1, "failed": 0}},
    ],
)
def test_a_state_that_is_no_batch_is_an_error_and_counts_nothing(account, lambda_context, state):
    with pytest.raises(ValueError, match="validation error"):
        account_for(account, lambda_context, state)
    assert run_counts() == (0, 0)
    assert results_objects() == {}


# ------------------------------------------------------------------ batches accounting at once


def test_a_batch_accounts_while_another_holds_the_runs_summary_item_in_a_transaction(account, lambda_context):
    """DynamoDB cancels a transaction that touches an item another transaction is writing
    (TransactionConflict): with up to 10,000 batches at once, an account that wrote the run's
    summary item in its transaction would fail whenever two batches accounted together. The
    emulator's DynamoDB holds another writer's transaction on the summary item open meanwhile."""
    import threading

    from local_emulator.patches import dynamodb as emulated

    summary_key = {"runId": {"S": RUN}, "entryIndex": {"N": "-1"}}
    other = {
        "Update": {
            "TableName": "audit",
            "Key": summary_key,
            "UpdateExpression": "SET note = :n",
            "ExpressionAttributeValues": {":n": {"S": "another writer"}},
        }
    }
    with emulated.transaction_paused("audit", summary_key) as paused:
        writer = threading.Thread(target=client("dynamodb").transact_write_items, kwargs={"TransactItems": [other]})
        writer.start()
        assert paused.wait(), "the other transaction holds the summary item"

        outcome = account_for(account, lambda_context, child_state(0, 2, **reported("job-a", 3, 0)))

    writer.join()
    assert outcome["counted"] is True
    batch = audit_item("audit", RUN, 0)
    assert (batch["status"], batch["succeeded"], batch["failed"]) == ("SUCCEEDED", 3, 0)
