"""The job-event function against moto: the audit table's view of a batch's job, and the task of a job
that stopped without reporting."""

import json
from typing import Any

import pytest

from local_emulator.waiting_tasks import WaitingTask
from tests.support.audit_table import audit_item, create_audit_table, create_table_like
from tests.support.clients import client
from tests.support.handlers import load_handler
from tests.support.paths import FUNCTIONS, TEST_INPUTS


@pytest.fixture
def job_events(aws: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AUDIT_TABLE", create_audit_table("audit"))
    monkeypatch.setenv("TASK_TOKEN_TABLE", create_table_like("TaskTokenTable", "tokens"))
    return load_handler(FUNCTIONS / "runs", "job_events")


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
    for gone in ("entry", "auditEntryIndex", "resultsKey"):
        parameters.pop(gone, None)
    parameters.update(
        reportKey=f"runs/example-run/reports/{BATCH:09d}-{BATCH + 99:09d}.bin",
        auditRunId="example-run",
        auditBatch=str(BATCH),
    )
    reference = f"ref-{task.token[-12:]}" if task else "none"
    if task:
        item = {
            "ref": {"S": reference},
            "taskToken": {"S": task.token},
            "planKey": {"S": f"runs/example-run/plans/{BATCH:09d}-{BATCH + 99:09d}.txt"},
            "expiresAt": {"N": "4102444800"},
        }
        client("dynamodb").put_item(TableName="tokens", Item=item)
    event["detail"]["parameters"]["taskRef"] = reference
    return event


def test_a_job_that_failed_without_reporting_fails_its_task_at_once(job_events, waiting_tasks, lambda_context):
    task = waiting_tasks.start()

    result = job_events.lambda_handler(job_event(task, "FAILED"), lambda_context)

    outcome = waiting_tasks.outcome(task)
    assert (outcome["status"], outcome["error"]) == ("FAILED", "Batch.JobFailed")
    assert outcome["cause"] == (
        f"job 4c7599ae-0a82-49aa-ba5a-4727fcce14a8 ({JOB_NAME}) FAILED after 1 attempt(s): "
        "OutOfMemoryError: Container killed due to memory usage; exit code 137"
    )
    assert result == {"delivered": True, "status": "FAILED"}


def test_a_job_that_succeeded_without_reporting_fails_its_task(job_events, waiting_tasks, lambda_context):
    task = waiting_tasks.start()

    job_events.lambda_handler(job_event(task, "SUCCEEDED", container={"exitCode": 0}), lambda_context)

    outcome = waiting_tasks.outcome(task)
    assert (outcome["status"], outcome["error"]) == ("FAILED", "Batch.JobSucceededWithoutCallback")


def test_the_event_of_a_job_that_reported_changes_nothing(job_events, waiting_tasks, lambda_context):
    task = waiting_tasks.start()
    client("stepfunctions").send_task_success(taskToken=task.token, output=json.dumps({"from": "the script"}))
    waiting_tasks.outcome(task)

    result = job_events.lambda_handler(job_event(task, "SUCCEEDED", container={"exitCode": 0}), lambda_context)

    assert result["delivered"] is False
    assert json.loads(waiting_tasks.outcome(task)["output"]) == {"from": "the script"}


def test_a_job_without_a_task_token_is_ignored(job_events, lambda_context):
    assert job_events.lambda_handler(job_event(None, "FAILED"), lambda_context) == {
        "delivered": False,
        "reason": "NoTaskToken",
    }


def test_each_attempts_start_makes_the_batch_running_and_sends_no_callback(job_events, waiting_tasks, lambda_context):
    task = waiting_tasks.start()
    event = job_event(task, "RUNNING", attempts=[])

    assert job_events.lambda_handler(event, lambda_context) == {"delivered": False, "recorded": True}

    item = audit_item("audit", "example-run", BATCH)
    assert (item["status"], item["jobStatus"], item["attempts"]) == ("RUNNING", "RUNNING", 1)
    assert item["jobId"] == event["detail"]["jobId"]
    assert waiting_tasks.is_waiting(task)


def test_a_stopped_job_is_recorded_before_its_task_is_failed(job_events, waiting_tasks, lambda_context):
    task = waiting_tasks.start()
    job_events.lambda_handler(job_event(task, "RUNNING", attempts=[]), lambda_context)

    job_events.lambda_handler(job_event(task, "FAILED"), lambda_context)

    item = audit_item("audit", "example-run", BATCH)
    assert (item["status"], item["jobStatus"], item["attempts"]) == ("RUNNING", "FAILED", 1)
    assert item["jobStatusReason"] == "OutOfMemoryError: Container killed due to memory usage"
    assert waiting_tasks.outcome(task)["error"] == "Batch.JobFailed"


def test_late_events_never_move_a_batch_back(job_events, waiting_tasks, lambda_context):
    task = waiting_tasks.start()
    ended = {"container": {"exitCode": 1}, "startedAt": 1, "stoppedAt": 2}
    job_events.lambda_handler(job_event(task, "FAILED", attempts=[ended, ended]), lambda_context)
    client("dynamodb").update_item(
        TableName="audit",
        Key={"runId": {"S": "example-run"}, "entryIndex": {"N": str(BATCH)}},
        UpdateExpression="SET #status = :failed",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":failed": {"S": "FAILED"}},
    )

    # The first attempt's RUNNING event, delivered last.
    result = job_events.lambda_handler(job_event(task, "RUNNING", attempts=[]), lambda_context)

    item = audit_item("audit", "example-run", BATCH)
    assert result["recorded"] is False
    assert (item["status"], item["jobStatus"], item["attempts"]) == ("FAILED", "FAILED", 2)


def test_a_job_outside_any_run_is_not_recorded(job_events, waiting_tasks, lambda_context):
    task = waiting_tasks.start()
    event = job_event(task, "RUNNING", attempts=[])
    del event["detail"]["parameters"]["auditRunId"], event["detail"]["parameters"]["auditBatch"]

    assert job_events.lambda_handler(event, lambda_context) == {"delivered": False, "recorded": False}
    assert client("dynamodb").scan(TableName="audit")["Items"] == []


def test_a_job_carrying_only_the_old_entry_index_is_not_recorded(job_events, waiting_tasks, lambda_context):
    # Jobs are accounted by batch now: auditBatch keys the item, auditEntryIndex keys nothing.
    task = waiting_tasks.start()
    event = job_event(task, "RUNNING", attempts=[])
    parameters = event["detail"]["parameters"]
    parameters["auditEntryIndex"] = parameters.pop("auditBatch")

    assert job_events.lambda_handler(event, lambda_context) == {"delivered": False, "recorded": False}
    assert client("dynamodb").scan(TableName="audit")["Items"] == []


def test_the_end_of_a_batchs_job_is_recorded_on_its_batch_only(job_events, waiting_tasks, lambda_context):
    other = {"runId": {"S": "example-run"}, "entryIndex": {"N": "100"}, "status": {"S": "SUBMITTED"}}
    client("dynamodb").put_item(TableName="audit", Item=other)
    task = waiting_tasks.start()

    job_events.lambda_handler(job_event(task, "FAILED"), lambda_context)

    item = audit_item("audit", "example-run", BATCH)
    assert (item["jobStatus"], item["attempts"], item["jobId"]) == (
        "FAILED",
        1,
        "4c7599ae-0a82-49aa-ba5a-4727fcce14a8",
    )
    assert audit_item("audit", "example-run", 100) == {"runId": "example-run", "entryIndex": 100, "status": "SUBMITTED"}
