"""The submit function against moto: the job it submits for a batch of entries, the plan it writes and
what it keeps for the job, and what it tells Step Functions when it cannot submit."""

import json
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from local_emulator.waiting_tasks import WaitingTask, WaitingTasks
from tests.support.audit_table import audit_item, create_audit_table, create_table_like, plain, pop_usage
from tests.support.batch_queue import fargate_queue, template_job_definition
from tests.support.clients import client
from tests.support.handlers import load_handler
from tests.support.paths import FUNCTIONS, TEST_INPUTS
from tests.support.template import sam_template

HEARTBEAT_SECONDS = 90
RUNS = "runs"
# How each entry runs, as the prepare function chose it (as in the sample payload).
ENTRY = {"command": "s3-digest", "timeoutSeconds": 600, "attempts": 2, "backoffSeconds": 1, "parallelism": 4}
BAD_ENTRY = ENTRY | {"attempts": 0}
CHILD = "arn:aws:states:us-east-1:123456789012:execution:app-orchestrator/batches:0b9a6a52-5c57-4d8e-9d53-6f3c2f0e7a11"


@pytest.fixture
def batch_queue(aws: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    batch = client("batch")
    queue = fargate_queue(client("ec2"), client("iam"), batch, "queue", max_vcpus=4)
    definition = template_job_definition(batch, "job")
    client("s3").create_bucket(Bucket=RUNS)
    resources = {
        "RunsBucket": RUNS,
        "JobQueue": queue,
        "JobDefinition": definition,
        "AWS::StackName": "the-stack",
        "TaskTokenTable": create_table_like("TaskTokenTable", "tokens"),
        "IdempotencyTable": create_table_like("IdempotencyTable", "idempotency"),
        "AuditTable": create_audit_table("audit"),
    }
    template = sam_template()
    variables = template["Resources"]["BatchSubmitFunction"]["Properties"]["Environment"]["Variables"]
    for name, value in variables.items():
        if isinstance(value, dict):
            ref = value["Ref"]
            value = template["Parameters"][ref]["Default"] if ref in template["Parameters"] else resources[ref]
        monkeypatch.setenv(name, str(value))
    monkeypatch.setenv("JOB_HEARTBEAT_SECONDS", str(HEARTBEAT_SECONDS))
    return {"queue": queue, "definition": definition}


@pytest.fixture
def submit(batch_queue: dict[str, str]) -> Any:
    return load_handler(FUNCTIONS / "runs", "submit")


def items(first: int, count: int, **entry: Any) -> list[dict[str, Any]]:
    return [
        {"index": i, "name": f"entry-{i}", "entry": {"name": f"entry-{i}", **entry}}
        for i in range(first, first + count)
    ]


def event_for(task: WaitingTask, **overrides: Any) -> dict[str, Any]:
    """What the "Run job" state sends, for the batch of entries 200 and 201 of run-1."""
    event = {
        "taskToken": task.token,
        "executionArn": CHILD,
        "runId": "run-1",
        "items": items(200, 2),
        "entry": ENTRY,
    }
    event.update(overrides)
    return {k: v for k, v in event.items() if v is not None}


def submitted_jobs(queue: str) -> list[dict[str, Any]]:
    batch = client("batch")
    summaries = [
        job
        for status in ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING", "SUCCEEDED", "FAILED")
        for job in batch.list_jobs(jobQueue=queue, jobStatus=status)["jobSummaryList"]
    ]
    ids = sorted({job["jobId"] for job in summaries})
    return batch.describe_jobs(jobs=ids)["jobs"] if ids else []


def kept(reference: str) -> dict[str, Any]:
    item = client("dynamodb").get_item(TableName="tokens", Key={"ref": {"S": reference}})["Item"]
    return plain(item)


def kept_items() -> list[dict[str, Any]]:
    return client("dynamodb").scan(TableName="tokens")["Items"]


def plan_objects() -> list[str]:
    return [o["Key"] for o in client("s3").list_objects_v2(Bucket=RUNS).get("Contents", [])]


def plan_text(reference: str) -> str:
    """The plan the job of REFERENCE reads: where its item in the token table says."""
    return client("s3").get_object(Bucket=RUNS, Key=kept(reference)["planKey"])["Body"].read().decode()


def test_submits_one_job_for_the_batch_carrying_references_only(
    submit, batch_queue, waiting_tasks: WaitingTasks, lambda_context
):
    task = waiting_tasks.start()
    batch = items(200, 2, note='quote " backslash \\ newline \n unicode é✓')

    result = submit.lambda_handler(event_for(task, items=batch), lambda_context)

    [job] = submitted_jobs(batch_queue["queue"])
    assert result == {"submitted": True, "jobId": job["jobId"], "jobName": "run-run-1-b200"}
    assert job["jobName"] == "run-run-1-b200"
    assert job["jobQueue"] == batch_queue["queue"]
    reference = job["parameters"]["taskRef"]
    assert job["parameters"] == {
        "taskRef": reference,
        "reportKey": "runs/run-1/reports/000000200-000000201.bin",
        "sleepSeconds": "0",  # the job definition's default (the full path's array children sleep), not given
        "heartbeatIntervalSeconds": str(HEARTBEAT_SECONDS // 3),
        "auditRunId": "run-1",
        "auditBatch": "200",
    }
    assert job["tags"] == {"sfn-batch-orchestrator:stack": "the-stack"}
    assert len(reference) >= 32
    # The job gets a reference; the token and the plan's key are in the token table, with an expiry;
    # the entries are in the plan.
    assert task.token not in json.dumps(job) and "entry-200" not in json.dumps(job)
    item = kept(reference)
    assert item.keys() == {"ref", "taskToken", "planKey", "expiresAt"}
    assert item["taskToken"] == task.token
    assert item["planKey"] == "runs/run-1/plans/000000200-000000201.txt"
    assert [key for key, value in item.items() if task.token in str(value)] == ["taskToken"]
    plan = plan_text(reference)
    assert task.token not in plan
    assert plan.split("\n\n", 1)[1] == "".join(
        f"{i['index']}\t{i['name']}\t{json.dumps(i['entry'], ensure_ascii=False, separators=(',', ':'))}\n"
        for i in batch
    )
    assert plan_objects() == [item["planKey"]]
    assert time.time() + 3600 + 3600 - 60 < item["expiresAt"] <= time.time() + 3600 + 3600
    assert waiting_tasks.is_waiting(task), "a submitted job must leave the task waiting for the job's callback"


def test_the_plan_holds_the_batch_as_lines_the_job_reads_whatever_its_names_entries_and_command(
    submit, batch_queue, waiting_tasks, lambda_context
):
    """Its exact text: settings, an empty line, then one line an entry (index, name, compact JSON), split
    by tabs and ended by a line feed only; nothing in a name, an entry or the command can add a line or a field."""
    name = "quote \" backslash \\ é✓ $(rm -rf /) `id` 'single' ; | & < > two  spaces "
    entry = {"name": name, "text": "tab\there\nnewline\r\u2028sep\u0085nel", "'": "`", "nested": {"x": [1, None, 2.5]}}
    command = 's3-digest --label "it\'s $HOME" | tee /dev/null; echo \\done'
    settings = {"command": command, "timeoutSeconds": 0, "attempts": 1, "backoffSeconds": 0, "parallelism": 1}
    batch = [
        {"index": 200, "name": name, "entry": entry},
        {"index": 201, "name": "plain", "entry": {"name": "plain"}},
    ]
    task = waiting_tasks.start()

    submit.lambda_handler(event_for(task, items=batch, entry=settings), lambda_context)

    [job] = submitted_jobs(batch_queue["queue"])
    plan = plan_text(job["parameters"]["taskRef"])
    assert plan == (
        'command\ts3-digest --label "it\'s $HOME" | tee /dev/null; echo \\done\n'
        "timeout\t0\n"
        "attempts\t1\n"
        "backoff\t0\n"
        "parallelism\t1\n"
        "outputs\ts3://runs/runs/run-1/outputs/\n"
        "run\trun-1\n"
        "maxfiles\t1000\n"
        "\n"
        "200\tquote \" backslash \\ é✓ $(rm -rf /) `id` 'single' ; | & < > two  spaces \t"
        '{"name":"quote \\" backslash \\\\ é✓ $(rm -rf /) `id` \'single\' ; | & < > two  spaces ",'
        '"text":"tab\\there\\nnewline\\r\u2028sep\u0085nel","\'":"`","nested":{"x":[1,null,2.5]}}\n'
        '201\tplain\t{"name":"plain"}\n'
    )
    lines = plan.split("\n")
    assert len(lines) == 8 + 1 + 2 + 1
    assert [len(line.split("\t")) for line in lines[9:11]] == [3, 3]
    assert json.loads(lines[9].split("\t")[2]) == entry


def test_the_sample_payload_is_submitted(submit, batch_queue, waiting_tasks, lambda_context):
    task = waiting_tasks.start()
    event = json.loads((TEST_INPUTS / "batchjobsubmitfunction-payload.json").read_text()) | {"taskToken": task.token}

    result = submit.lambda_handler(event, lambda_context)

    assert (result["submitted"], result["jobName"]) == (True, "run-example-run-b0")
    [job] = submitted_jobs(batch_queue["queue"])
    plan = plan_text(job["parameters"]["taskRef"])
    assert plan.startswith("command\ts3-digest\ntimeout\t600\nattempts\t2\nbackoff\t1\nparallelism\t4\n")
    assert plan.endswith('\n\n0\tinvoke1\t{"name":"invoke1"}\n1\tinvoke2\t{"name":"invoke2"}\n')


def test_the_heartbeat_interval_is_a_third_of_the_heartbeat_and_at_least_a_second(
    submit, batch_queue, waiting_tasks, lambda_context, monkeypatch
):
    monkeypatch.setenv("JOB_HEARTBEAT_SECONDS", "2")
    submit.lambda_handler(event_for(waiting_tasks.start()), lambda_context)
    [job] = submitted_jobs(batch_queue["queue"])
    assert job["parameters"]["heartbeatIntervalSeconds"] == "1"


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"items": None}, "items: Field required"),
        ({"items": []}, "items: List should have at least 1 item"),
        ({"items": [{"index": 0, "entry": {"name": "a"}}]}, "items.0.name: Field required"),
        ({"items": [{"index": 0, "name": "a", "entry": ["not", "an", "object"]}]}, "items.0.entry"),
        ({"items": [{"index": -1, "name": "a", "entry": {}}]}, "items.0.index"),
        (
            {"items": [{"index": 0, "name": "a", "entry": {}, "more": 1}]},
            "items.0.more: Extra inputs are not permitted",
        ),
        ({"entry": None}, "entry: Field required"),
        ({"entry": BAD_ENTRY}, "entry.attempts: Input should be greater than or equal to 1"),
        ({"entry": ENTRY | {"attempts": 11}}, "entry.attempts: Input should be less than or equal to 10"),
        ({"entry": ENTRY | {"command": "a\nb"}}, "entry.command: String should match pattern"),
        ({"entry": ENTRY | {"command": "a\tb"}}, "entry.command: String should match pattern"),
        ({"entry": ENTRY | {"command": ""}}, "entry.command: String should have at least 1 character"),
        ({"entry": ENTRY | {"timeoutSeconds": -1}}, "entry.timeoutSeconds: Input should be greater than or equal to 0"),
        ({"entry": ENTRY | {"parallelism": 0}}, "entry.parallelism: Input should be greater than or equal to 1"),
        ({"entry": {k: v for k, v in ENTRY.items() if k != "backoffSeconds"}}, "entry.backoffSeconds: Field required"),
        ({"entry": ENTRY | {"sleepSeconds": 7}}, "entry.sleepSeconds: Extra inputs are not permitted"),
        ({"executionArn": "not-an-arn"}, "executionArn: String should match pattern"),
        ({"runId": "run 1"}, "runId: String should match pattern"),
        ({"runId": None}, "runId: Field required"),
    ],
)
def test_bad_input_fails_the_waiting_task_at_once(submit, batch_queue, waiting_tasks, lambda_context, overrides, named):
    task = waiting_tasks.start()

    result = submit.lambda_handler(event_for(task, **overrides), lambda_context)

    outcome = waiting_tasks.outcome(task)
    assert (outcome["status"], outcome["error"]) == ("FAILED", "InvalidInput")
    assert outcome["cause"].startswith("submit request rejected: ") and named in outcome["cause"]
    assert result == {"submitted": False, "error": "InvalidInput", "cause": outcome["cause"]}
    assert submitted_jobs(batch_queue["queue"]) == []
    assert kept_items() == [] and plan_objects() == []


def test_a_long_cause_is_cut_to_leave_room_in_the_batchs_state(submit, batch_queue, waiting_tasks, lambda_context):
    task = waiting_tasks.start()
    bad = [{"index": i, "name": "", "entry": {}} for i in range(200)]

    result = submit.lambda_handler(event_for(task, items=bad), lambda_context)

    outcome = waiting_tasks.outcome(task)
    assert len(result["cause"]) > 4096
    assert outcome["cause"] == result["cause"][:4096]


@pytest.mark.parametrize("event", [{"items": items(0, 1)}, {"taskToken": ""}, {"taskToken": 7}, ["taskToken"]])
def test_an_event_without_a_token_is_an_error_and_submits_nothing(submit, batch_queue, lambda_context, event):
    with pytest.raises(ValueError, match="no taskToken"):
        submit.lambda_handler(event, lambda_context)
    assert submitted_jobs(batch_queue["queue"]) == []


def test_a_command_that_would_overflow_batchs_container_overrides_fails_the_task(
    submit, batch_queue, waiting_tasks, lambda_context, monkeypatch
):
    # The template's command cannot: only a command changed to repeat the parameters can.
    batch = client("batch")
    command = ["sh", "-c", "exec sh", "batch-job"] + ["Ref::reportKey"] * 200
    definition = batch.register_job_definition(
        jobDefinitionName="big",
        type="container",
        platformCapabilities=["FARGATE"],
        containerProperties={
            "image": "example",
            "command": command,
            "resourceRequirements": [{"type": "VCPU", "value": "0.25"}, {"type": "MEMORY", "value": "512"}],
        },
    )["jobDefinitionArn"]
    monkeypatch.setenv("JOB_DEFINITION", definition)
    task = waiting_tasks.start()

    submit.lambda_handler(event_for(task), lambda_context)

    outcome = waiting_tasks.outcome(task)
    assert (outcome["status"], outcome["error"]) == ("FAILED", "JobTooLarge")
    assert outcome["cause"].startswith("the job's container overrides would take ")
    assert outcome["cause"].endswith(" characters; Batch on Fargate allows 8192")
    assert int(outcome["cause"].split()[6]) > 8192
    assert submitted_jobs(batch_queue["queue"]) == [] and kept_items() == []


def test_the_templates_command_fits_with_the_longest_run_and_batch(submit):
    command = tuple(sam_template()["Resources"]["JobDefinition"]["Properties"]["ContainerProperties"]["Command"])
    run_id = "r" * 80
    parameters = {
        "taskRef": "x" * 32,
        "reportKey": f"runs/{run_id}/reports/999999999-999999999.bin",
        "heartbeatIntervalSeconds": "99999",
        "auditRunId": run_id,
        "auditBatch": "999999999",
    }
    length = submit.container_overrides_length(command, parameters)
    assert length < submit.MAX_CONTAINER_OVERRIDES
    assert length > len(json.dumps(command)), "every Ref:: replaced and Batch's variables counted"


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
    assert (outcome["status"], outcome["error"], outcome["cause"]) == (
        "FAILED",
        "Batch.TooManyRequestsException",
        "Too Many Requests",
    )
    assert submitted_jobs(batch_queue["queue"]) == []
    # The orchestrator retries exactly this error name on its "Run job" state.
    definition = json.loads((FUNCTIONS.parent / "statemachines" / "orchestrator.asl.json").read_text())
    run_job = definition["States"]["Run batches"]["ItemProcessor"]["States"]["Run job"]
    assert any(outcome["error"] in retry["ErrorEquals"] for retry in run_job["Retry"])


def test_a_refused_submit_job_fails_the_task_with_batchs_error(
    submit, batch_queue, waiting_tasks, lambda_context, monkeypatch
):
    monkeypatch.setenv("JOB_QUEUE", "arn:aws:batch:us-east-1:123456789012:job-queue/no-such-queue")
    task = waiting_tasks.start()

    result = submit.lambda_handler(event_for(task), lambda_context)

    outcome = waiting_tasks.outcome(task)
    assert (outcome["status"], outcome["error"]) == ("FAILED", "Batch.ClientException")
    assert "no-such-queue does not exist" in outcome["cause"]
    assert result["submitted"] is False


def test_a_token_table_that_cannot_be_written_fails_the_task_before_any_job(
    submit, batch_queue, waiting_tasks, lambda_context, monkeypatch
):
    monkeypatch.setenv("TASK_TOKEN_TABLE", "no-such-table")
    task = waiting_tasks.start()

    submit.lambda_handler(event_for(task), lambda_context)

    assert waiting_tasks.outcome(task)["error"] == "DynamoDB.ResourceNotFoundException"
    assert submitted_jobs(batch_queue["queue"]) == []


@pytest.mark.parametrize(
    ("bucket", "code", "cause"),
    [
        ("no-such-bucket", "S3.NoSuchBucket", "The specified bucket does not exist"),
        (None, "S3.AccessDenied", "Access Denied"),
    ],
)
def test_a_plan_that_cannot_be_written_fails_the_task_before_any_job(
    submit, batch_queue, waiting_tasks, lambda_context, monkeypatch, bucket, code, cause
):
    from botocore.stub import ANY, Stubber

    s3 = Stubber(submit.s3)
    if bucket:
        monkeypatch.setenv("RUNS_BUCKET", bucket)
    else:  # what S3 answers a role without s3:PutObject on the plans
        s3.add_client_error(
            "put_object",
            service_error_code="AccessDenied",
            service_message="Access Denied",
            http_status_code=403,
            expected_params={"Bucket": RUNS, "Key": "runs/run-1/plans/000000200-000000201.txt", "Body": ANY},
        )
        s3.activate()
    task = waiting_tasks.start()

    try:
        result = submit.lambda_handler(event_for(task), lambda_context)
    finally:
        s3.deactivate()

    outcome = waiting_tasks.outcome(task)
    assert (outcome["status"], outcome["error"], outcome["cause"]) == ("FAILED", code, cause)
    assert result == {"submitted": False, "error": code, "cause": cause}
    assert submitted_jobs(batch_queue["queue"]) == []
    assert kept_items() == [], "no reference to a plan that is not there"
    assert plan_objects() == []


def test_an_unexpected_failure_fails_the_task(submit, batch_queue, waiting_tasks, lambda_context, monkeypatch):
    monkeypatch.setenv("JOB_DEFINITION", "no-such-definition")
    task = waiting_tasks.start()

    result = submit.lambda_handler(event_for(task), lambda_context)

    outcome = waiting_tasks.outcome(task)
    assert (outcome["error"], outcome["cause"]) == (
        "SubmitFailed",
        "ValueError: not enough values to unpack (expected 1, got 0)",
    )
    assert result == {"submitted": False, "error": "SubmitFailed", "cause": outcome["cause"]}
    assert submitted_jobs(batch_queue["queue"]) == []


class Stdout:
    """sys.stdout as it is when written to (capsys's, while a test runs)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture
def logs(submit: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[[], str]:
    """What the function writes to stdout (CloudWatch). The Logger's handler keeps the stdout of
    the test that first created it: it is pointed at the current one's."""
    for handler in submit.logger.handlers:
        monkeypatch.setattr(handler, "stream", Stdout())
    return lambda: capsys.readouterr().out


def test_logs_name_the_token_only_by_its_suffix(submit, batch_queue, waiting_tasks, lambda_context, logs):
    task = waiting_tasks.start()
    submit.lambda_handler(event_for(task), lambda_context)
    bad = waiting_tasks.start()
    submit.lambda_handler(event_for(bad, entry=BAD_ENTRY), lambda_context)
    submit.lambda_handler(event_for(task), lambda_context)  # a duplicate delivery

    written = logs()
    records = [json.loads(line) for line in written.splitlines()]
    assert [r["message"] for r in records] == ["job submitted", "failing the waiting task"]
    assert task.token[-8:] in written and bad.token[-8:] in written
    assert task.token not in written and bad.token not in written
    assert {r["correlation_id"] for r in records} == {CHILD}


def test_a_second_delivery_of_the_same_event_submits_no_second_job(submit, batch_queue, waiting_tasks, lambda_context):
    task = waiting_tasks.start()
    event = event_for(task)

    first = submit.lambda_handler(event, lambda_context)
    second = submit.lambda_handler(event, lambda_context)

    assert second == first
    assert len(submitted_jobs(batch_queue["queue"])) == 1
    assert len(kept_items()) == 1


def test_a_second_delivery_of_bad_input_fails_the_task_once(submit, batch_queue, waiting_tasks, lambda_context):
    task = waiting_tasks.start()
    event = event_for(task, entry=BAD_ENTRY)

    first = submit.lambda_handler(event, lambda_context)
    second = submit.lambda_handler(event, lambda_context)

    assert second == first and first["error"] == "InvalidInput"
    assert waiting_tasks.outcome(task)["error"] == "InvalidInput"


def test_the_idempotency_record_holds_no_token(submit, batch_queue, waiting_tasks, lambda_context):
    task = waiting_tasks.start()
    submit.lambda_handler(event_for(task), lambda_context)

    records = client("dynamodb").scan(TableName="idempotency")["Items"]
    assert len(records) == 1
    assert task.token not in json.dumps(records)


def test_the_batch_is_recorded_submitted_with_its_job(submit, batch_queue, waiting_tasks, lambda_context):
    task = waiting_tasks.start()

    result = submit.lambda_handler(event_for(task, items=items(200, 3)), lambda_context)

    item = audit_item("audit", "run-1", 200)
    assert item.pop("updatedAt")
    usage = pop_usage(item)
    # Writes: the idempotency record (put, then its result), the task's token, the submission, the usage.
    assert usage == {"lambdaRequests": 1, "lambdaMbMs": usage["lambdaMbMs"], "s3PutList": 1, "dynamodbWrites": 5}
    assert usage["lambdaMbMs"] >= 256, "a millisecond at least, at the function's 256 MB"
    assert item == {
        "runId": "run-1",
        "entryIndex": 200,
        "status": "SUBMITTED",
        "lastIndex": 202,
        "entries": 3,
        "jobId": result["jobId"],
        "childExecutionArn": CHILD,
    }
    assert len(client("dynamodb").scan(TableName="audit")["Items"]) == 1


def test_a_status_already_recorded_stays(submit, batch_queue, waiting_tasks, lambda_context):
    # The job's RUNNING event can be recorded before the submission is.
    client("dynamodb").put_item(
        TableName="audit", Item={"runId": {"S": "run-1"}, "entryIndex": {"N": "200"}, "status": {"S": "RUNNING"}}
    )
    task = waiting_tasks.start()

    result = submit.lambda_handler(event_for(task), lambda_context)

    item = audit_item("audit", "run-1", 200)
    assert (item["status"], item["jobId"], item["lastIndex"]) == ("RUNNING", result["jobId"], 201)


def test_the_audit_never_fails_a_submission(submit, batch_queue, waiting_tasks, lambda_context, monkeypatch):
    monkeypatch.setenv("AUDIT_TABLE", "no-such-table")
    task = waiting_tasks.start()

    result = submit.lambda_handler(event_for(task), lambda_context)

    assert result["submitted"] is True and waiting_tasks.is_waiting(task)
    assert len(submitted_jobs(batch_queue["queue"])) == 1


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
    event = event_for(task, entry=BAD_ENTRY)

    with pytest.raises(submit.TaskNotToldError, match="InvalidInput not reported: ThrottlingException"):
        submit.lambda_handler(event, lambda_context)
    assert waiting_tasks.is_waiting(task)

    monkeypatch.setattr(StepFunctionsParserBackend, "send_task_failure", real_send_task_failure)
    submit.lambda_handler(event, lambda_context)  # Lambda's retry: the same event
    assert waiting_tasks.outcome(task)["error"] == "InvalidInput"


def test_a_task_already_closed_is_not_an_error(submit, batch_queue, waiting_tasks, lambda_context):
    task = waiting_tasks.start()
    client("stepfunctions").stop_execution(executionArn=task.execution_arn)
    waiting_tasks.outcome(task)

    result = submit.lambda_handler(event_for(task, entry=BAD_ENTRY), lambda_context)

    assert (result["submitted"], result["error"]) == (False, "InvalidInput")
