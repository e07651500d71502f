"""The account function against moto: each batch's entries counted once in the run's counters, their
results made from the report the batch's job wrote (or, when the job failed, every entry FAILED with
its error), and the job of such a batch terminated."""

import json
from typing import Any

import pytest

from tests.support.audit_table import audit_item, create_audit_table, pop_usage
from tests.support.batch_queue import fargate_queue, template_job_definition
from tests.support.clients import client
from tests.support.handlers import formatted, load_handler
from tests.support.job_reports import STARTED_MS, Record, put_report
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


def reported(job_id: str, first: int, last: int, failed: tuple[int, ...] = (), attempt: int = 1) -> dict[str, Any]:
    """The batch FIRST..LAST's job wrote its report (the entries FAILED exited 1) and reported: what
    its SendTaskSuccess puts at $.job."""
    records = [
        Record(i, status=1 if i in failed else 0, stderr=b"it failed" if i in failed else b"")
        for i in range(first, last + 1)
    ]
    put_report(client("s3"), RUNS, RUN, first, last, records)
    return {"job": {"jobId": job_id, "attempt": attempt, "entries": last - first + 1, "failed": len(failed)}}


def account_for(account: Any, context: Any, state: dict[str, Any]) -> dict[str, Any]:
    return account.lambda_handler({"batch": state}, context)


def run_counts() -> tuple[int, int]:
    item = audit_item("audit", RUN, -1)
    return item["succeeded"], item["failed"]


def results_objects() -> dict[str, list[dict[str, Any]]]:
    s3 = client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=RUNS, Prefix=f"runs/{RUN}/results/").get("Contents", [])]
    return {
        key: [json.loads(line) for line in s3.get_object(Bucket=RUNS, Key=key)["Body"].read().decode().splitlines()]
        for key in keys
    }


# ------------------------------------------------------------------ the job reported


def test_a_batch_whose_entries_all_succeeded_is_counted_once(account, lambda_context):
    state = child_state(0, 2, **reported("job-a", 0, 2))

    first = account_for(account, lambda_context, state)
    again = account_for(account, lambda_context, state)  # a retried Account state

    assert first == {"first": 0, "last": 2, "succeeded": 3, "failed": 0, "counted": True}
    assert again == first | {"counted": False}
    assert run_counts() == (3, 0)
    batch = audit_item("audit", RUN, 0)
    accounted = batch.pop("accountedAt")
    # How the batch went, for the run's report (run_stats.py): 3 entries of 1.5 s, none failed.
    stats = {key: batch.pop(key) for key in ("entryMs", "entryMaxMs", "batchMs", "errors", "errorExamples")}
    assert (sum(stats["entryMs"].values()), stats["entryMaxMs"], stats["batchMs"]) == (3, 1500, 1500)
    assert stats["errors"] == stats["errorExamples"] == {}
    usage = pop_usage(batch)
    # Both calls are billed (each read the report and wrote the results); the child's 3 transitions
    # and its job's requests (the script, its token, its plan, its report) are counted once.
    assert (usage["lambdaRequests"], usage["transitions"]) == (2, 3)
    assert (usage["dynamodbReads"], usage["s3Get"] - 2, usage["s3PutList"] - 2) == (1, 2, 1), usage
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
    [results] = results_objects().values()
    assert [(r["index"], r["status"], r["jobId"]) for r in results] == [(i, "SUCCEEDED", "job-a") for i in (0, 1, 2)]


def test_a_batch_with_failed_entries_fails_its_child_and_is_counted_once(account, lambda_context, caplog):
    state = child_state(3, 5, **reported("job-b", 3, 5, failed=(4,)))

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
    account_for(account, lambda_context, child_state(0, 2, **reported("a", 0, 2)))
    with pytest.raises(account.EntriesFailed):
        account_for(account, lambda_context, child_state(3, 5, **reported("b", 3, 5, failed=(3, 5))))
    account_for(account, lambda_context, child_state(6, 8, **reported("c", 6, 8)))
    account_for(account, lambda_context, child_state(0, 2, **reported("a", 0, 2)))

    assert run_counts() == (7, 2)
    assert [audit_item("audit", RUN, i)["status"] for i in (0, 3, 6)] == ["SUCCEEDED", "FAILED", "SUCCEEDED"]


# ------------------------------------------------------------------ the results, made from the job's report


def test_each_entrys_result_line_is_made_from_its_record_in_the_report(account, lambda_context):
    """Every field of a result line, for each way an entry can end; the counts are the report's
    (the job counts only exit statuses: an entry that exited 0 with an output that is not JSON
    failed here)."""
    put_report(
        client("s3"),
        RUNS,
        RUN,
        10,
        15,
        [
            Record(10, attempts=1, ended_ms=STARTED_MS + 250, output='{"digest":"é✓"}'.encode(), files=3),
            Record(11, status=2, attempts=3, ended_ms=STARTED_MS + 4000, stderr=b"bad input\n"),
            Record(12, status=143, timed_out=True, attempts=2, ended_ms=STARTED_MS + 600_000, stderr=b"slow"),
            Record(13, output=b"{not json"),
            # 14: the job did not report it
            Record(15, files=1001),
            Record(99),  # no entry of this batch: ignored
        ],
    )
    state = child_state(10, 15, job={"jobId": "job-r", "attempt": 2, "entries": 6, "failed": 2})

    with pytest.raises(account.EntriesFailed, match=r"^batch 10-15: 5 of 6 entries failed \(see their results\)$"):
        account_for(account, lambda_context, state)

    job = {"jobId": "job-r", "attempt": 2}
    times = {"startedAt": "2026-05-28T20:26:40.000Z"}
    assert results_objects() == {
        "runs/run-1/results/000000010-000000015.jsonl": [
            {
                "index": 10,
                "name": "entry-10",
                "status": "SUCCEEDED",
                **job,
                "attempts": 1,
                "seconds": 0.25,
                **times,
                "endedAt": "2026-05-28T20:26:40.250Z",
                "outputs": "s3://runs/runs/run-1/outputs/10/",
                "output": {"digest": "é✓"},
            },
            {
                "index": 11,
                "name": "entry-11",
                "status": "FAILED",
                "error": "Entry.Failed",
                "cause": "bad input\n",
                **job,
                "attempts": 3,
                "seconds": 4.0,
                **times,
                "endedAt": "2026-05-28T20:26:44.000Z",
            },
            {
                "index": 12,
                "name": "entry-12",
                "status": "FAILED",
                "error": "Entry.Timeout",
                "cause": "stopped at its timeout (attempt 2); slow",
                **job,
                "attempts": 2,
                "seconds": 600.0,
                **times,
                "endedAt": "2026-05-28T20:36:40.000Z",
            },
            {
                "index": 13,
                "name": "entry-13",
                "status": "FAILED",
                "error": "Entry.InvalidOutput",
                "cause": "its output document is not JSON: Expecting property name enclosed in double quotes: "
                "line 1 column 2 (char 1)",
                **job,
                "attempts": 1,
                "seconds": 1.5,
                **times,
                "endedAt": "2026-05-28T20:26:41.500Z",
            },
            {
                "index": 14,
                "name": "entry-14",
                "status": "FAILED",
                "error": "Entry.NotReported",
                "cause": "the job's report has no record of this entry",
                **job,
            },
            {
                "index": 15,
                "name": "entry-15",
                "status": "FAILED",
                "error": "Entry.TooManyOutputs",
                "cause": "it left 1001 files in its output folder; at most 1000, none kept",
                **job,
                "attempts": 1,
                "seconds": 1.5,
                **times,
                "endedAt": "2026-05-28T20:26:41.500Z",
            },
        ]
    }
    assert run_counts() == (1, 5)
    batch = audit_item("audit", RUN, 10)
    assert (batch["status"], batch["succeeded"], batch["failed"], batch["jobId"]) == ("FAILED", 1, 5, "job-r")


def test_the_results_file_keeps_text_as_it_is_one_line_an_entry(account, lambda_context):
    # U+2028 and U+0085 are line breaks to str.splitlines, not to JSON Lines: the file is split at "\n".
    output = json.dumps({"text": "a\u2028b\u0085c\nd"}, ensure_ascii=False).encode()
    put_report(client("s3"), RUNS, RUN, 0, 0, [Record(0, output=output)])

    account_for(account, lambda_context, child_state(0, 0, job={"jobId": "j", "entries": 1, "failed": 0}))

    body = client("s3").get_object(Bucket=RUNS, Key="runs/run-1/results/000000000-000000000.jsonl")["Body"].read()
    [line] = body.decode().split("\n")[:-1]
    assert "a\u2028b\u0085c" in line, "UTF-8, not escaped"
    assert json.loads(line)["output"] == {"text": "a\u2028b\u0085c\nd"}


@pytest.mark.parametrize(
    ("report", "cause"),
    [
        (None, "the job's report cannot be read: An error occurred (NoSuchKey) when calling the GetObject operation"),
        (
            b"entry 0 0 0 1 0 0 5 0 0\nabc",
            "the job's report cannot be read: the record of entry 0 is cut short",
        ),
        (b"entry 0 0 0 1 0 0\n", "the job's report cannot be read: the record at byte 0 is not 'entry' and 9 numbers"),
    ],
)
def test_a_report_missing_or_malformed_fails_every_entry_of_the_batch(account, lambda_context, report, cause):
    if report is not None:
        put_report(client("s3"), RUNS, RUN, 0, 1, report)
    state = child_state(0, 1, job={"jobId": "job-m", "attempt": 1, "entries": 2, "failed": 0})

    with pytest.raises(account.EntriesFailed, match=r"^batch 0-1: 2 of 2 entries failed \(see their results\)$"):
        account_for(account, lambda_context, state)

    [results] = results_objects().values()
    assert [(r["index"], r["status"], r["error"], r["jobId"]) for r in results] == [
        (i, "FAILED", "Batch.ReportUnreadable", "job-m") for i in (0, 1)
    ]
    assert all(r["cause"].startswith(cause) for r in results), results[0]["cause"]
    assert run_counts() == (0, 2)
    assert audit_item("audit", RUN, 0)["status"] == "FAILED"


def test_a_missing_report_as_s3_answers_the_functions_role_fails_every_entry(account, lambda_context):
    from botocore.stub import ANY, Stubber

    state = child_state(0, 0, job={"jobId": "job-m", "attempt": 1, "entries": 1, "failed": 0})
    with Stubber(account.s3) as s3:
        s3.add_client_error("get_object", service_error_code="AccessDenied", http_status_code=403)
        s3.add_response(
            "put_object", {}, {"Bucket": RUNS, "Key": "runs/run-1/results/000000000-000000000.jsonl", "Body": ANY}
        )
        with pytest.raises(account.EntriesFailed, match="1 of 1 entries failed"):
            account_for(account, lambda_context, state)
    assert run_counts() == (0, 1)


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
    assert result == {"index": 0, "name": "entry-0", "status": "FAILED", "error": "Batch.Failed", "cause": "é" * 4096}


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
        {"Items": items(0, 0), "BatchInput": {"runId": RUN}, "job": {"jobId": "a", "entries": -1, "failed": 0}},
        {"Items": items(0, 0), "BatchInput": {"runId": RUN}, "job": {"entries": 1, "failed": 0}},
        # What a job of the stack's former script sent: its counts, no number of entries.
        {"Items": items(0, 0), "BatchInput": {"runId": RUN}, "job": {"jobId": "a", "succeeded": 1, "failed": 0}},
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

        outcome = account_for(account, lambda_context, child_state(0, 2, **reported("job-a", 0, 2)))

    writer.join()
    assert outcome["counted"] is True
    batch = audit_item("audit", RUN, 0)
    assert (batch["status"], batch["succeeded"], batch["failed"]) == ("SUCCEEDED", 3, 0)
