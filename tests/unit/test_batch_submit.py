"""The submit function against moto: what it submits to Batch and what it tells Step Functions."""

import json
import time
from typing import Any

import boto3
import pytest

from tests.support.audit_table import audit_item, create_audit_table, create_table_like, plain
from tests.support.batch_queue import fargate_queue, template_job_definition
from tests.support.handlers import formatted, load_handler
from tests.support.paths import FUNCTIONS
from tests.support.waiting_tasks import WaitingTask, WaitingTasks

HEARTBEAT_SECONDS = 90


@pytest.fixture
def batch_queue(aws: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    batch = boto3.client("batch")
    queue = fargate_queue(boto3.client("ec2"), boto3.client("iam"), batch, "queue", max_vcpus=4)
    definition = template_job_definition(batch, "job")
    monkeypatch.setenv("JOB_QUEUE", queue)
    monkeypatch.setenv("JOB_DEFINITION", definition)
    monkeypatch.setenv("JOB_HEARTBEAT_SECONDS", str(HEARTBEAT_SECONDS))
    monkeypatch.setenv("JOB_TAG_VALUE", "the-stack")
    monkeypatch.setenv("TASK_TOKEN_TABLE", create_table_like("TaskTokenTable", "tokens"))
    monkeypatch.setenv("TASK_TOKEN_TTL_SECONDS", "3600")
    boto3.client("dynamodb").create_table(
        TableName="idempotency",
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.setenv("IDEMPOTENCY_TABLE", "idempotency")
    monkeypatch.setenv("AUDIT_TABLE", create_audit_table("audit"))
    return {"queue": queue, "definition": definition}


@pytest.fixture
def submit(batch_queue: dict[str, str]) -> Any:
    return load_handler(FUNCTIONS / "batch_submit")


def event_for(task: WaitingTask, **overrides: Any) -> dict[str, Any]:
    event = {
        "taskToken": task.token,
        "executionArn": "arn:aws:states:us-east-1:123456789012:execution:SyncNested:3-abc",
        "entry": {"name": "invoke1"},
        "sleepSeconds": 7,
    }
    event.update(overrides)
    return {k: v for k, v in event.items() if v is not None}


def submitted_jobs(queue: str) -> list[dict[str, Any]]:
    batch = boto3.client("batch")
    summaries = [
        job
        for status in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")
        for job in batch.list_jobs(jobQueue=queue, jobStatus=status)["jobSummaryList"]
    ]
    ids = sorted({job["jobId"] for job in summaries})
    return batch.describe_jobs(jobs=ids)["jobs"] if ids else []


def stored_token(reference: str) -> dict[str, Any]:
    item = boto3.client("dynamodb").get_item(TableName="tokens", Key={"ref": {"S": reference}})["Item"]
    return plain(item)


def test_submits_one_job_carrying_a_token_reference_the_entry_and_timing(
    submit, batch_queue, waiting_tasks: WaitingTasks, lambda_context
):
    task = waiting_tasks.start()
    entry = {"name": "invoke1", "note": 'quote " backslash \\ newline \n unicode é✓'}

    result = submit.lambda_handler(event_for(task, entry=entry), lambda_context)

    [job] = submitted_jobs(batch_queue["queue"])
    assert result == {"submitted": True, "jobId": job["jobId"], "jobName": "3-abc-job"}
    assert job["jobName"] == "3-abc-job"
    assert job["jobQueue"] == batch_queue["queue"]
    assert json.loads(job["parameters"]["entry"]) == entry
    assert job["parameters"]["sleepSeconds"] == "7"
    assert job["parameters"]["heartbeatIntervalSeconds"] == str(HEARTBEAT_SECONDS // 3)
    assert job["tags"] == {"sfn-batch-orchestrator:stack": "the-stack"}
    # The job gets a reference; the token itself is in the token table, with an expiry.
    assert task.token not in json.dumps(job)
    kept = stored_token(job["parameters"]["taskRef"])
    assert kept["taskToken"] == task.token
    assert kept["expiresAt"] > time.time() + 3600
    assert len(job["parameters"]["taskRef"]) >= 32
    assert waiting_tasks.is_waiting(task), "a submitted job must leave the task waiting for the job's callback"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"entry": None}, "entry"),
        ({"entry": ["not", "an", "object"]}, "entry"),
        ({"sleepSeconds": -1}, "sleepSeconds"),
        ({"executionArn": "not-an-arn"}, "executionArn"),
    ],
)
def test_bad_input_fails_the_waiting_task_at_once(submit, batch_queue, waiting_tasks, lambda_context, overrides, field):
    task = waiting_tasks.start()

    result = submit.lambda_handler(event_for(task, **overrides), lambda_context)

    outcome = waiting_tasks.outcome(task)
    assert outcome["status"] == "FAILED"
    assert outcome["error"] == "InvalidInput"
    assert field in outcome["cause"]
    assert result["submitted"] is False
    assert submitted_jobs(batch_queue["queue"]) == []


def test_event_without_token_is_an_error_and_submits_nothing(submit, batch_queue, lambda_context):
    with pytest.raises(ValueError, match="no taskToken"):
        submit.lambda_handler({"entry": {"name": "x"}}, lambda_context)
    assert submitted_jobs(batch_queue["queue"]) == []


def test_entry_too_large_for_batchs_container_overrides_fails_the_task(
    submit, batch_queue, waiting_tasks, lambda_context
):
    task = waiting_tasks.start()
    # Quotes double in the overrides (the entry's JSON is escaped once more there): 4,000 of them
    # take 8,000 characters, over Batch's 8,192 with the rest of the command.
    submit.lambda_handler(event_for(task, entry={"name": "big", "data": '"' * 4000}), lambda_context)

    outcome = waiting_tasks.outcome(task)
    assert (outcome["status"], outcome["error"]) == ("FAILED", "EntryTooLarge")
    assert "8192" in outcome["cause"] and "S3" in outcome["cause"]
    assert submitted_jobs(batch_queue["queue"]) == []


def test_an_entry_that_fits_is_submitted(submit, batch_queue, waiting_tasks, lambda_context):
    task = waiting_tasks.start()
    submit.lambda_handler(event_for(task, entry={"name": "fits", "data": "x" * 7000}), lambda_context)
    assert len(submitted_jobs(batch_queue["queue"])) == 1 and waiting_tasks.is_waiting(task)


def throttle_submit_job(monkeypatch: pytest.MonkeyPatch, times: int) -> list[int]:
    """Batch (moto) answers the first TIMES SubmitJob calls with 429 TooManyRequestsException."""
    from moto.batch_simple.models import BatchSimpleBackend
    from moto.core.exceptions import JsonRESTError

    calls: list[int] = []
    real_submit_job = BatchSimpleBackend.submit_job

    def submit_job(self: BatchSimpleBackend, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) <= times:
            error = JsonRESTError("TooManyRequestsException", "Too Many Requests")
            error.code = 429
            raise error
        return real_submit_job(self, *args, **kwargs)

    monkeypatch.setattr(BatchSimpleBackend, "submit_job", submit_job)
    return calls


@pytest.fixture
def no_retry_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries still happen; only the random backoff delay is made zero to keep the test fast."""
    from botocore.retries import standard

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)


def test_throttled_submit_job_is_retried_with_backoff(
    submit, batch_queue, waiting_tasks, lambda_context, no_retry_delay, monkeypatch
):
    calls = throttle_submit_job(monkeypatch, times=2)
    task = waiting_tasks.start()

    result = submit.lambda_handler(event_for(task), lambda_context)

    assert len(calls) == 3
    assert result["submitted"] is True
    assert len(submitted_jobs(batch_queue["queue"])) == 1
    assert waiting_tasks.is_waiting(task)


def test_persistent_throttling_fails_the_task_with_a_retryable_error(
    submit, batch_queue, waiting_tasks, lambda_context, no_retry_delay, monkeypatch
):
    calls = throttle_submit_job(monkeypatch, times=100)
    task = waiting_tasks.start()

    submit.lambda_handler(event_for(task), lambda_context)

    assert len(calls) == 6  # the client's total_max_attempts
    outcome = waiting_tasks.outcome(task)
    assert (outcome["status"], outcome["error"]) == ("FAILED", "Batch.TooManyRequestsException")
    assert submitted_jobs(batch_queue["queue"]) == []


def test_logs_name_the_token_only_by_its_suffix(submit, batch_queue, waiting_tasks, lambda_context, caplog):
    task = waiting_tasks.start()
    submit.lambda_handler(event_for(task), lambda_context)
    bad = waiting_tasks.start()
    submit.lambda_handler(event_for(bad, sleepSeconds=-5), lambda_context)

    logs = formatted(submit.logger, caplog)
    assert task.token[-8:] in logs and bad.token[-8:] in logs
    assert task.token not in logs and bad.token not in logs
    records = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    assert {r.get("correlation_id") for r in records} == {
        "arn:aws:states:us-east-1:123456789012:execution:SyncNested:3-abc"
    }


def test_a_second_delivery_of_the_same_event_submits_no_second_job(submit, batch_queue, waiting_tasks, lambda_context):
    task = waiting_tasks.start()
    event = event_for(task)

    first = submit.lambda_handler(event, lambda_context)
    second = submit.lambda_handler(event, lambda_context)

    assert second == first
    assert len(submitted_jobs(batch_queue["queue"])) == 1


def test_the_idempotency_record_holds_no_token(submit, batch_queue, waiting_tasks, lambda_context):
    task = waiting_tasks.start()
    submit.lambda_handler(event_for(task), lambda_context)

    items = boto3.client("dynamodb").scan(TableName="idempotency")["Items"]
    assert len(items) == 1
    assert task.token not in json.dumps(items)


AUDIT = {"runId": "run-1", "entryIndex": 4}


def test_an_entry_of_a_run_is_recorded_submitted_with_its_job(submit, batch_queue, waiting_tasks, lambda_context):
    task = waiting_tasks.start()

    result = submit.lambda_handler(event_for(task, audit=AUDIT), lambda_context)

    [job] = submitted_jobs(batch_queue["queue"])
    assert (job["parameters"]["auditRunId"], job["parameters"]["auditEntryIndex"]) == ("run-1", "4")
    item = audit_item("audit", "run-1", 4)
    assert (item["status"], item["name"], item["jobId"]) == ("SUBMITTED", "invoke1", result["jobId"])
    assert item["childExecutionArn"] == event_for(task)["executionArn"]


def test_a_status_already_recorded_stays(submit, batch_queue, waiting_tasks, lambda_context):
    # The job's RUNNING event can be recorded before the submission is.
    boto3.client("dynamodb").put_item(
        TableName="audit", Item={"runId": {"S": "run-1"}, "entryIndex": {"N": "4"}, "status": {"S": "RUNNING"}}
    )
    task = waiting_tasks.start()

    result = submit.lambda_handler(event_for(task, audit=AUDIT), lambda_context)

    item = audit_item("audit", "run-1", 4)
    assert (item["status"], item["jobId"]) == ("RUNNING", result["jobId"])


def test_the_audit_never_fails_a_submission(submit, batch_queue, waiting_tasks, lambda_context, monkeypatch):
    monkeypatch.setenv("AUDIT_TABLE", "no-such-table")
    task = waiting_tasks.start()

    result = submit.lambda_handler(event_for(task, audit=AUDIT), lambda_context)

    assert result["submitted"] is True and waiting_tasks.is_waiting(task)


def test_a_child_run_alone_submits_without_audit(submit, batch_queue, waiting_tasks, lambda_context):
    task = waiting_tasks.start()

    submit.lambda_handler(event_for(task, audit=None), lambda_context)

    [job] = submitted_jobs(batch_queue["queue"])
    assert "auditRunId" not in job["parameters"]
    assert boto3.client("dynamodb").scan(TableName="audit")["Items"] == []


def test_a_failure_step_functions_did_not_hear_fails_the_invocation_for_lambda_to_retry(
    submit, batch_queue, waiting_tasks, lambda_context, no_retry_delay, monkeypatch
):
    from moto.core.exceptions import JsonRESTError
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    real_send_task_failure = StepFunctionsParserBackend.send_task_failure

    def throttled(self: Any, *args: Any, **kwargs: Any) -> Any:
        error = JsonRESTError("ThrottlingException", "Rate exceeded")
        error.code = 400
        raise error

    monkeypatch.setattr(StepFunctionsParserBackend, "send_task_failure", throttled)
    task = waiting_tasks.start()
    event = event_for(task, sleepSeconds=-1)

    with pytest.raises(submit.TaskNotToldError, match="InvalidInput not reported: ThrottlingException"):
        submit.lambda_handler(event, lambda_context)
    assert waiting_tasks.is_waiting(task)

    monkeypatch.setattr(StepFunctionsParserBackend, "send_task_failure", real_send_task_failure)
    submit.lambda_handler(event, lambda_context)  # Lambda's retry: the same event
    assert waiting_tasks.outcome(task)["error"] == "InvalidInput"
