"""The notify function against moto: what Step Functions receives for each callback."""

import json
from typing import Any

import boto3
import pytest

from tests.support.audit_table import audit_item, create_audit_table, create_table_like
from tests.support.handlers import formatted, load_handler
from tests.support.paths import FUNCTIONS, TEST_INPUTS
from tests.support.waiting_tasks import WaitingTask, WaitingTasks


@pytest.fixture
def notify(aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AUDIT_TABLE", create_audit_table("audit"))
    monkeypatch.setenv("TASK_TOKEN_TABLE", create_table_like("TaskTokenTable", "tokens"))
    return load_handler(FUNCTIONS / "callback_notify")


def sample_event(task: WaitingTask, **overrides: Any) -> dict[str, Any]:
    event = json.loads((TEST_INPUTS / "callbacknotifyfunction-payload.json").read_text())
    event.update(taskToken=task.token, **overrides)
    return event


def test_success_carries_the_output_intact(notify, waiting_tasks: WaitingTasks, lambda_context):
    task = waiting_tasks.start()
    output = {"entry": {"name": 'quote " backslash \\ newline \n unicode é✓'}, "n": [1, 2.5, None, True]}

    result = notify.lambda_handler(sample_event(task, output=output), lambda_context)

    outcome = waiting_tasks.outcome(task)
    assert outcome["status"] == "SUCCEEDED"
    assert json.loads(outcome["output"]) == output
    assert result == {"delivered": True, "status": "SUCCEEDED"}


def test_sample_payload_succeeds_the_task(notify, waiting_tasks, lambda_context):
    task = waiting_tasks.start()
    notify.lambda_handler(sample_event(task), lambda_context)
    outcome = waiting_tasks.outcome(task)
    assert json.loads(outcome["output"]) == {"notified": True, "runId": "example-run", "entries": 2}


def test_failure_carries_error_and_cause(notify, waiting_tasks, lambda_context):
    task = waiting_tasks.start()

    notify.lambda_handler(
        sample_event(task, status="FAILED", error="Upstream.Rejected", cause="entry refused"), lambda_context
    )

    outcome = waiting_tasks.outcome(task)
    assert (outcome["status"], outcome["error"], outcome["cause"]) == ("FAILED", "Upstream.Rejected", "entry refused")


def test_a_duplicate_callback_is_ignored_not_an_error(notify, waiting_tasks, lambda_context):
    task = waiting_tasks.start()
    notify.lambda_handler(sample_event(task), lambda_context)
    waiting_tasks.outcome(task)

    again = notify.lambda_handler(sample_event(task), lambda_context)

    assert again["delivered"] is False
    assert again["reason"] in {"InvalidToken", "TaskTimedOut", "TaskDoesNotExist"}
    assert waiting_tasks.outcome(task)["status"] == "SUCCEEDED"


def test_invalid_request_with_a_token_fails_the_task(notify, waiting_tasks, lambda_context):
    task = waiting_tasks.start()

    notify.lambda_handler(sample_event(task, status="MAYBE"), lambda_context)

    outcome = waiting_tasks.outcome(task)
    assert (outcome["status"], outcome["error"]) == ("FAILED", "InvalidInput")
    assert "status" in outcome["cause"]


def test_invalid_request_without_a_token_raises(notify, lambda_context):
    with pytest.raises(ValueError, match="no task to report to"):
        notify.lambda_handler({"status": "SUCCEEDED"}, lambda_context)


def test_logs_name_the_token_only_by_its_suffix(notify, waiting_tasks, lambda_context, caplog):
    task = waiting_tasks.start()
    notify.lambda_handler(sample_event(task), lambda_context)
    waiting_tasks.outcome(task)
    notify.lambda_handler(sample_event(task), lambda_context)  # duplicate: logged as ignored

    logs = formatted(notify.logger, caplog)
    assert "callback sent" in logs and "callback ignored" in logs
    assert task.token[-8:] in logs
    assert task.token not in logs


# The batch of entries 200..299 of the run example-run: its audit item is keyed by its first entry.
BATCH = 200
JOB_NAME = f"run-example-run-b{BATCH}"


def job_event(task: WaitingTask | None, status: str, **detail: Any) -> dict[str, Any]:
    """The sample "Batch Job State Change" event of a batch's job (named and given parameters as
    the submit function names it and gives them), with a reference to TASK's token kept in the
    token table as the submit function keeps it (or of a job with no task)."""
    event = json.loads((TEST_INPUTS / "batch-job-state-change-event.json").read_text())
    event["detail"].update(status=status, jobName=JOB_NAME, **detail)
    parameters = event["detail"]["parameters"]
    for gone in ("entry", "auditEntryIndex"):
        parameters.pop(gone, None)
    parameters.update(
        resultsKey=f"runs/example-run/results/{BATCH:09d}-{BATCH + 99:09d}.jsonl",
        auditRunId="example-run",
        auditBatch=str(BATCH),
    )
    reference = f"ref-{task.token[-12:]}" if task else "none"
    if task:
        item = {"ref": {"S": reference}, "taskToken": {"S": task.token}, "expiresAt": {"N": "4102444800"}}
        boto3.client("dynamodb").put_item(TableName="tokens", Item=item)
    event["detail"]["parameters"]["taskRef"] = reference
    return event


def test_a_job_that_failed_without_reporting_fails_its_task_at_once(notify, waiting_tasks, lambda_context):
    task = waiting_tasks.start()

    result = notify.lambda_handler(job_event(task, "FAILED"), lambda_context)

    outcome = waiting_tasks.outcome(task)
    assert (outcome["status"], outcome["error"]) == ("FAILED", "Batch.JobFailed")
    assert outcome["cause"] == (
        f"job 4c7599ae-0a82-49aa-ba5a-4727fcce14a8 ({JOB_NAME}) FAILED after 1 attempt(s): "
        "OutOfMemoryError: Container killed due to memory usage; exit code 137"
    )
    assert result == {"delivered": True, "status": "FAILED"}


def test_a_job_that_succeeded_without_reporting_fails_its_task(notify, waiting_tasks, lambda_context):
    task = waiting_tasks.start()

    notify.lambda_handler(job_event(task, "SUCCEEDED", container={"exitCode": 0}), lambda_context)

    outcome = waiting_tasks.outcome(task)
    assert (outcome["status"], outcome["error"]) == ("FAILED", "Batch.JobSucceededWithoutCallback")


def test_the_event_of_a_job_that_reported_changes_nothing(notify, waiting_tasks, lambda_context):
    task = waiting_tasks.start()
    notify.lambda_handler(sample_event(task, output={"from": "the script"}), lambda_context)
    waiting_tasks.outcome(task)

    result = notify.lambda_handler(job_event(task, "SUCCEEDED", container={"exitCode": 0}), lambda_context)

    assert result["delivered"] is False
    assert json.loads(waiting_tasks.outcome(task)["output"]) == {"from": "the script"}


def test_a_job_without_a_task_token_is_ignored(notify, lambda_context):
    assert notify.lambda_handler(job_event(None, "FAILED"), lambda_context) == {
        "delivered": False,
        "reason": "NoTaskToken",
    }


def test_each_attempts_start_makes_the_batch_running_and_sends_no_callback(notify, waiting_tasks, lambda_context):
    task = waiting_tasks.start()
    event = job_event(task, "RUNNING", attempts=[])

    assert notify.lambda_handler(event, lambda_context) == {"delivered": False, "recorded": True}

    item = audit_item("audit", "example-run", BATCH)
    assert (item["status"], item["jobStatus"], item["attempts"]) == ("RUNNING", "RUNNING", 1)
    assert item["jobId"] == event["detail"]["jobId"]
    assert waiting_tasks.is_waiting(task)


def test_a_stopped_job_is_recorded_before_its_task_is_failed(notify, waiting_tasks, lambda_context):
    task = waiting_tasks.start()
    notify.lambda_handler(job_event(task, "RUNNING", attempts=[]), lambda_context)

    notify.lambda_handler(job_event(task, "FAILED"), lambda_context)

    item = audit_item("audit", "example-run", BATCH)
    assert (item["status"], item["jobStatus"], item["attempts"]) == ("RUNNING", "FAILED", 1)
    assert item["jobStatusReason"] == "OutOfMemoryError: Container killed due to memory usage"
    assert waiting_tasks.outcome(task)["error"] == "Batch.JobFailed"


def test_late_events_never_move_a_batch_back(notify, waiting_tasks, lambda_context):
    task = waiting_tasks.start()
    ended = {"container": {"exitCode": 1}, "startedAt": 1, "stoppedAt": 2}
    notify.lambda_handler(job_event(task, "FAILED", attempts=[ended, ended]), lambda_context)
    boto3.client("dynamodb").update_item(
        TableName="audit",
        Key={"runId": {"S": "example-run"}, "entryIndex": {"N": str(BATCH)}},
        UpdateExpression="SET #status = :failed",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":failed": {"S": "FAILED"}},
    )

    # The first attempt's RUNNING event, delivered last.
    result = notify.lambda_handler(job_event(task, "RUNNING", attempts=[]), lambda_context)

    item = audit_item("audit", "example-run", BATCH)
    assert result["recorded"] is False
    assert (item["status"], item["jobStatus"], item["attempts"]) == ("FAILED", "FAILED", 2)


def test_a_job_outside_any_run_is_not_recorded(notify, waiting_tasks, lambda_context):
    task = waiting_tasks.start()
    event = job_event(task, "RUNNING", attempts=[])
    del event["detail"]["parameters"]["auditRunId"], event["detail"]["parameters"]["auditBatch"]

    assert notify.lambda_handler(event, lambda_context) == {"delivered": False, "recorded": False}
    assert boto3.client("dynamodb").scan(TableName="audit")["Items"] == []


def test_a_job_carrying_only_the_old_entry_index_is_not_recorded(notify, waiting_tasks, lambda_context):
    # Jobs are accounted by batch now: auditBatch keys the item, auditEntryIndex keys nothing.
    task = waiting_tasks.start()
    event = job_event(task, "RUNNING", attempts=[])
    parameters = event["detail"]["parameters"]
    parameters["auditEntryIndex"] = parameters.pop("auditBatch")

    assert notify.lambda_handler(event, lambda_context) == {"delivered": False, "recorded": False}
    assert boto3.client("dynamodb").scan(TableName="audit")["Items"] == []


def test_the_end_of_a_batchs_job_is_recorded_on_its_batch_only(notify, waiting_tasks, lambda_context):
    other = {"runId": {"S": "example-run"}, "entryIndex": {"N": "100"}, "status": {"S": "SUBMITTED"}}
    boto3.client("dynamodb").put_item(TableName="audit", Item=other)
    task = waiting_tasks.start()

    notify.lambda_handler(job_event(task, "FAILED"), lambda_context)

    item = audit_item("audit", "example-run", BATCH)
    assert (item["jobStatus"], item["attempts"], item["jobId"]) == (
        "FAILED",
        1,
        "4c7599ae-0a82-49aa-ba5a-4727fcce14a8",
    )
    assert audit_item("audit", "example-run", 100) == {"runId": "example-run", "entryIndex": 100, "status": "SUBMITTED"}
