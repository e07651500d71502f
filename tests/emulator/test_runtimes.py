"""The emulator's Lambda and Batch runtimes through the plain AWS APIs, without the template."""

import io
import json
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from local_emulator.lambda_runtime import ForkedProcess
from local_emulator.server import Emulator, free_port
from tests.support.batch_queue import fargate_queue

ROLE_POLICY = json.dumps(
    {"Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
)


@pytest.fixture(scope="module")
def aws() -> Iterator[dict[str, Any]]:
    with Emulator(port=free_port()) as emulator:
        yield {
            name: boto3.client(name, endpoint_url=emulator.endpoint_url)
            for name in ("lambda", "iam", "batch", "ec2", "logs")
        } | {"emulator": emulator}


def function(aws: dict[str, Any], name: str, code: str, timeout: int = 3, env: dict[str, str] | None = None) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", code)
    role = aws["iam"].create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=ROLE_POLICY)["Role"]["Arn"]
    aws["lambda"].create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=role,
        Handler="app.handler",
        Code={"ZipFile": buffer.getvalue()},
        Timeout=timeout,
        Environment={"Variables": env or {}},
    )
    return name


def test_handler_runs_with_its_environment_and_context(aws):
    name = function(
        aws,
        "echo",
        "import os\ndef handler(event, context):\n"
        "    print('hello from the log')\n"
        "    return {'event': event, 'setting': os.environ['SETTING'], 'name': context.function_name,"
        " 'remaining': context.get_remaining_time_in_millis() > 0}\n",
        env={"SETTING": "on"},
    )
    response = aws["lambda"].invoke(FunctionName=name, Payload=json.dumps({"a": 1}), LogType="Tail")
    assert json.loads(response["Payload"].read()) == {
        "event": {"a": 1},
        "setting": "on",
        "name": "echo",
        "remaining": True,
    }
    assert "FunctionError" not in response
    logs = aws["emulator"].lambdas.journal.invocations[-1].logs
    assert "hello from the log" in logs and "START RequestId" in logs and "REPORT RequestId" in logs


def test_workers_are_forked_from_the_runtimes_warm_interpreter(aws):
    name = function(aws, "forked", "def handler(event, context):\n    return 'ok'\n")
    aws["lambda"].invoke(FunctionName=name, Payload=b"{}")
    [pool] = [pool for key, pool in aws["emulator"].lambdas.pools.items() if key[0].endswith(f":{name}")]
    assert pool.idle and all(isinstance(worker.process, ForkedProcess) for worker in pool.idle)


WHO_AM_I = (
    "import os, boto3\n"
    "def handler(event, context):\n"
    "    return [boto3.client('sts').get_caller_identity()['Arn'], os.environ['AWS_SESSION_TOKEN'] != '']\n"
)


def test_a_function_calls_with_a_session_of_its_role_and_its_workers_are_forked_all_the_same(aws):
    names = [function(aws, name, WHO_AM_I) for name in ("first-role", "second-role")]
    for name in names * 2:  # twice each: the same credentials, the same pool
        response = aws["lambda"].invoke(FunctionName=name, Payload=b"{}")
        assert json.loads(response["Payload"].read()) == [
            f"arn:aws:sts::123456789012:assumed-role/{name}-role/{name}",
            True,
        ]
    for name in names:
        [pool] = [pool for key, pool in aws["emulator"].lambdas.pools.items() if key[0].endswith(f":{name}")]
        assert pool.idle and all(isinstance(worker.process, ForkedProcess) for worker in pool.idle)


def test_an_unhandled_error_is_reported_as_lambda_reports_it(aws):
    name = function(aws, "fails", "def handler(event, context):\n    raise ValueError('bad thing')\n")
    response = aws["lambda"].invoke(FunctionName=name, Payload=b"{}")
    payload = json.loads(response["Payload"].read())
    assert response["FunctionError"] == "Unhandled"
    assert (payload["errorType"], payload["errorMessage"]) == ("ValueError", "bad thing")
    request_id = aws["emulator"].lambdas.journal.invocations[-1].request_id
    assert payload["requestId"] == request_id
    assert payload["stackTrace"] and all("app.py" in frame for frame in payload["stackTrace"]), (
        "the handler's frames only"
    )


def test_the_function_timeout_is_enforced(aws):
    name = function(aws, "sleeps", "import time\ndef handler(event, context):\n    time.sleep(30)\n", timeout=1)
    started = time.monotonic()
    response = aws["lambda"].invoke(FunctionName=name, Payload=b"{}")
    payload = json.loads(response["Payload"].read())
    assert time.monotonic() - started < 10
    assert response["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout" and "Task timed out after 1.00 seconds" in payload["errorMessage"]


def test_event_invocations_return_at_once_and_run_in_the_background(aws):
    name = function(
        aws,
        "slow-event",
        "import time\ndef handler(event, context):\n    time.sleep(2)\n    return 'done'\n",
        timeout=10,
    )
    journal = aws["emulator"].lambdas.journal
    before = len(journal.invocations)
    started = time.monotonic()
    response = aws["lambda"].invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    assert response["StatusCode"] == 202 and time.monotonic() - started < 1.5
    deadline = time.monotonic() + 20
    while len(journal.invocations) == before:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert journal.invocations[-1].invocation_type == "Event" and not journal.invocations[-1].errored


def test_failed_event_invocations_are_retried_as_configured(aws, monkeypatch):
    # Lambda's own delays (about 1 and 2 minutes) are the emulator's default; the count is what is tested here.
    monkeypatch.setattr(aws["emulator"].lambdas, "async_retry_delays", (1.0, 2.0))
    name = function(aws, "always-fails", "def handler(event, context):\n    raise RuntimeError('no')\n")
    aws["lambda"].put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)
    journal = aws["emulator"].lambdas.journal
    aws["lambda"].invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    deadline = time.monotonic() + 20
    while len([i for i in journal.invocations if i.function_name == name]) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(3)  # a third attempt would have started by now
    attempts = [i.attempt for i in journal.invocations if i.function_name == name]
    assert attempts == [1, 2]


@pytest.fixture(scope="module")
def queue(aws) -> str:
    """A Fargate queue with room for exactly two 0.5-vCPU jobs."""
    return fargate_queue(aws["ec2"], aws["iam"], aws["batch"], "two-slots", max_vcpus=1)


def definition(aws, name: str, command: list[str], **extra: Any) -> str:
    return aws["batch"].register_job_definition(
        jobDefinitionName=name,
        type="container",
        platformCapabilities=["FARGATE"],
        containerProperties={
            "image": "local",
            "command": command,
            "resourceRequirements": [{"type": "VCPU", "value": "0.5"}, {"type": "MEMORY", "value": "1024"}],
            "environment": [{"name": "GREETING", "value": "hi"}],
        },
        **extra,
    )["jobDefinitionArn"]


def wait_stopped(aws, job_ids: list[str], seconds: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + seconds
    while True:
        jobs = aws["batch"].describe_jobs(jobs=job_ids)["jobs"]
        if all(j["status"] in ("SUCCEEDED", "FAILED") for j in jobs):
            return jobs
        assert time.monotonic() < deadline, [j["status"] for j in jobs]
        time.sleep(0.1)


def test_a_job_runs_its_command_with_parameters_and_environment(aws, queue):
    arn = definition(
        aws, "echo", ["sh", "-c", 'echo "$GREETING $1 $AWS_BATCH_JOB_ID" && exit "$2"', "job", "Ref::word", "Ref::code"]
    )
    job_id = aws["batch"].submit_job(
        jobName="echo", jobQueue=queue, jobDefinition=arn, parameters={"word": "there", "code": "0"}
    )["jobId"]
    [job] = wait_stopped(aws, [job_id])
    assert job["status"] == "SUCCEEDED" and job["container"]["exitCode"] == 0
    stream = job["container"]["logStreamName"]
    events = aws["logs"].get_log_events(logGroupName="/aws/batch/job", logStreamName=stream)["events"]
    assert events[0]["message"] == f"hi there {job_id}"


def test_container_overrides_over_8192_characters_fail_the_job_at_start(aws, queue):
    arn = definition(aws, "long-argument", ["sh", "-c", 'test -n "$1"', "job", "Ref::data"])
    fits, too_long = (
        aws["batch"].submit_job(jobName=name, jobQueue=queue, jobDefinition=arn, parameters={"data": "x" * size})[
            "jobId"
        ]
        for name, size in (("fits", 7000), ("too-long", 8200))
    )
    first, second = wait_stopped(aws, [fits, too_long])
    assert first["status"] == "SUCCEEDED"
    assert (second["status"], second["statusReason"], second["attempts"]) == (
        "FAILED",
        "Container Overrides length must be at most 8192",
        [],
    )


def test_exit_code_decides_failure(aws, queue):
    arn = definition(aws, "exit3", ["sh", "-c", "exit 3"])
    job_id = aws["batch"].submit_job(jobName="exit3", jobQueue=queue, jobDefinition=arn)["jobId"]
    [job] = wait_stopped(aws, [job_id])
    assert (job["status"], job["container"]["exitCode"]) == ("FAILED", 3)


def test_the_compute_environment_bounds_concurrency(aws, queue):
    arn = definition(aws, "sleep", ["sleep", "1"])
    ids = [aws["batch"].submit_job(jobName=f"s{i}", jobQueue=queue, jobDefinition=arn)["jobId"] for i in range(4)]
    jobs = wait_stopped(aws, ids)
    spans = [(j["startedAt"], j["stoppedAt"]) for j in jobs]
    most = max(sum(1 for start, stop in spans if start <= moment < stop) for moment, _ in spans)
    assert most == 2


def test_attempt_duration_and_terminate_stop_the_process_group(aws, queue):
    arn = definition(aws, "forever", ["sh", "-c", "sleep 300 & wait"], timeout={"attemptDurationSeconds": 1})
    timed_out = aws["batch"].submit_job(jobName="forever", jobQueue=queue, jobDefinition=arn)["jobId"]
    endless = definition(aws, "endless", ["sh", "-c", "sleep 300 & wait"])
    terminated = aws["batch"].submit_job(jobName="endless", jobQueue=queue, jobDefinition=endless)["jobId"]
    deadline = time.monotonic() + 30
    while aws["batch"].describe_jobs(jobs=[terminated])["jobs"][0]["status"] != "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    aws["batch"].terminate_job(jobId=terminated, reason="stopped by the test")

    first, second = wait_stopped(aws, [timed_out, terminated])
    assert (first["status"], first["statusReason"], first["container"]["exitCode"]) == (
        "FAILED",
        "Job attempt duration exceeded timeout",
        143,
    )
    assert (second["status"], second["statusReason"]) == ("FAILED", "stopped by the test")


def test_array_children_see_their_index_and_a_failed_child_fails_the_array(aws, queue):
    arn = definition(aws, "array", ["sh", "-c", 'test "$AWS_BATCH_JOB_ARRAY_INDEX" != 1'])
    parent = aws["batch"].submit_job(jobName="array", jobQueue=queue, jobDefinition=arn, arrayProperties={"size": 3})[
        "jobId"
    ]
    children = wait_stopped(aws, [f"{parent}:{i}" for i in range(3)])
    assert [c["status"] for c in children] == ["SUCCEEDED", "FAILED", "SUCCEEDED"]
    assert aws["batch"].describe_jobs(jobs=[parent])["jobs"][0]["status"] == "FAILED"


def test_terminating_an_array_job_terminates_its_children_and_lists_it_failed(aws, queue):
    arn = definition(aws, "array-forever", ["sh", "-c", "sleep 300 & wait"])
    parent = aws["batch"].submit_job(
        jobName="terminated-array", jobQueue=queue, jobDefinition=arn, arrayProperties={"size": 3}
    )["jobId"]  # two run, the third waits for room
    aws["batch"].terminate_job(jobId=parent, reason="stopped by the test")

    children = wait_stopped(aws, [f"{parent}:{i}" for i in range(3)])
    assert [(c["status"], c["statusReason"]) for c in children] == [("FAILED", "stopped by the test")] * 3
    listed = aws["batch"].list_jobs(jobQueue=queue, jobStatus="FAILED")["jobSummaryList"]
    assert parent in {j["jobId"] for j in listed}, "ListJobs shows the array job ended, as DescribeJobs does"


def test_retry_strategy_retries_only_what_its_rules_say(aws, queue):
    retried = definition(
        aws,
        "retried",
        ["sh", "-c", "exit 4"],
        retryStrategy={
            "attempts": 3,
            "evaluateOnExit": [{"onExitCode": "4", "action": "RETRY"}, {"onReason": "*", "action": "EXIT"}],
        },
    )
    final = definition(
        aws,
        "final",
        ["sh", "-c", "exit 5"],
        retryStrategy={
            "attempts": 3,
            "evaluateOnExit": [{"onExitCode": "4", "action": "RETRY"}, {"onReason": "*", "action": "EXIT"}],
        },
    )
    ids = [
        aws["batch"].submit_job(jobName=n, jobQueue=queue, jobDefinition=d)["jobId"]
        for n, d in (("retried", retried), ("final", final))
    ]
    first, second = wait_stopped(aws, ids)
    assert len(first["attempts"]) == 3 and len(second["attempts"]) == 1
    assert [a["container"]["exitCode"] for a in first["attempts"]] == [4, 4, 4]


def test_a_map_child_that_fails_inside_the_emulator_ends_failed_and_its_map_does_not_wait(aws, monkeypatch):
    """An error of the engine's own in one child (here made on purpose) ends that child FAILED
    (States.Runtime, with the error), and the Map counts it: the run ends instead of waiting for ever."""
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

    environment = ExecutionWorker._get_evaluation_environment

    def failing_for_the_second_item(worker: ExecutionWorker) -> Any:
        given = worker._evaluation_details.execution_details.inpt
        if (json.loads(given) if isinstance(given, str) else given) == {"item": 1}:
            raise RuntimeError("made to fail by the test")
        return environment(worker)

    monkeypatch.setattr(ExecutionWorker, "_get_evaluation_environment", failing_for_the_second_item)
    sfn = boto3.client("stepfunctions", endpoint_url=aws["emulator"].endpoint_url)
    child = {"StartAt": "Pass", "States": {"Pass": {"Type": "Pass", "End": True}}}
    processor = {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, **child}
    definition = {"StartAt": "Map", "States": {"Map": {"Type": "Map", "ItemProcessor": processor, "End": True}}}
    role = aws["iam"].create_role(RoleName="map-role", AssumeRolePolicyDocument=ROLE_POLICY)["Role"]["Arn"]
    machine = sfn.create_state_machine(name="crashing-child", definition=json.dumps(definition), roleArn=role)
    starts_children = {"Effect": "Allow", "Action": "states:StartExecution", "Resource": machine["stateMachineArn"]}
    aws["iam"].put_role_policy(
        RoleName="map-role",
        PolicyName="children",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [starts_children]}),
    )
    items = [{"item": i} for i in range(3)]
    execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input=json.dumps(items))["executionArn"]
    deadline = time.monotonic() + 60
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the Map still waits for its child"
        time.sleep(0.2)
    assert (described["status"], described.get("error")) == ("FAILED", "States.ExceedToleratedFailureThreshold")
    [map_run] = sfn.list_map_runs(executionArn=execution)["mapRuns"]
    children = sfn.list_executions(mapRunArn=map_run["mapRunArn"])["executions"]
    failed = [sfn.describe_execution(executionArn=c["executionArn"]) for c in children if c["status"] == "FAILED"]
    assert [(f["error"], f["cause"]) for f in failed] == [
        ("States.Runtime", "The emulator could not run this execution: RuntimeError: made to fail by the test")
    ]
    # A child that never got its environment is no obstacle to other tasks' callbacks.
    for call in (sfn.send_task_failure, sfn.send_task_heartbeat):
        with pytest.raises(sfn.exceptions.InvalidToken):
            call(taskToken="a-token-of-no-task")
