"""The callback function against moto: what Step Functions receives for each callback."""

import json
from typing import Any

import pytest

from local_emulator.waiting_tasks import WaitingTask, WaitingTasks
from tests.support.handlers import formatted, load_handler
from tests.support.paths import FUNCTIONS, TEST_INPUTS


@pytest.fixture
def notify(aws: None) -> Any:
    return load_handler(FUNCTIONS / "runs", "callback_notify")


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
