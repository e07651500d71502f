"""The batch script run for real, under dash and busybox sh, against a moto server on 127.0.0.1:
what the waiting Step Functions task receives."""

import json
import signal
import subprocess

import pytest

from tests.script.conftest import HEARTBEAT_SECONDS, run, script_command
from tests.support.paths import BATCH_SCRIPT, TEST_INPUTS
from tests.support.template import resources

HOSTILE_ENTRY = {
    "name": "hostile",
    "quotes": "she said \"hi\" and 'bye'",
    "backslashes": 'C:\\temp\\new\\table \\" \\\\',
    "newlines": "line1\nline2\r\nline3\t tab",
    "unicode": "é ñ ü 中文 🚀 \u2028 \u0000 end",
    "shell": "$(touch /tmp/pwned) `id` ${HOME} $HOME; rm -rf / && echo",
    "nested": {"list": [1, 2.5, True, None, "x"], "empty": {}},
}


def test_success_reports_the_result_with_the_entry_intact(shell, waiting_tasks, job_environment):
    task = waiting_tasks.start()

    result = run(script_command(shell, task.ref, json.dumps(HOSTILE_ENTRY)), job_environment)

    assert result.returncode == 0, result.stdout + result.stderr
    outcome = waiting_tasks.outcome(task)
    assert outcome["status"] == "SUCCEEDED"
    output = json.loads(outcome["output"])
    assert output["entry"] == HOSTILE_ENTRY
    assert output["status"] == "SUCCEEDED"
    assert output["jobId"] == job_environment["AWS_BATCH_JOB_ID"]
    assert output["workedSeconds"] == 0


def test_python3_builds_the_same_json_where_the_image_has_no_jq(shell, waiting_tasks, job_environment):
    task = waiting_tasks.start()

    result = run(
        script_command(shell, task.ref, json.dumps(HOSTILE_ENTRY)), {**job_environment, "BATCH_JSON_TOOL": "python3"}
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(waiting_tasks.outcome(task)["output"])["entry"] == HOSTILE_ENTRY


def test_heartbeats_keep_a_long_job_alive(shell, waiting_tasks, job_environment):
    task = waiting_tasks.start()
    work = HEARTBEAT_SECONDS + 2  # longer than the task's heartbeat timeout: only heartbeats save it

    result = run(script_command(shell, task.ref, '{"name": "slow"}', sleep=work, heartbeat=1), job_environment)

    assert result.returncode == 0, result.stdout + result.stderr
    outcome = waiting_tasks.outcome(task)
    assert outcome["status"] == "SUCCEEDED"
    assert json.loads(outcome["output"])["workedSeconds"] == work


def test_requested_failure_reports_error_and_cause_and_exits_non_zero(shell, waiting_tasks, job_environment):
    task = waiting_tasks.start()

    result = run(script_command(shell, task.ref, '{"name": "x", "expectedJobStatus": "FAILED"}'), job_environment)

    assert result.returncode == 1
    outcome = waiting_tasks.outcome(task)
    assert (outcome["status"], outcome["error"]) == ("FAILED", "Job.SimulatedFailure")
    assert "expectedJobStatus" in outcome["cause"]


@pytest.mark.parametrize("entry", ["not json", "[1, 2]", '"a string"', ""])
def test_bad_entry_is_reported_as_invalid_input(shell, waiting_tasks, job_environment, entry):
    task = waiting_tasks.start()

    result = run(script_command(shell, task.ref, entry), job_environment)

    assert result.returncode == 2
    outcome = waiting_tasks.outcome(task)
    assert (outcome["status"], outcome["error"]) == ("FAILED", "Job.InvalidInput")
    assert job_environment["AWS_BATCH_JOB_ID"] in outcome["cause"]


def test_bad_sleep_is_reported_as_invalid_input(shell, waiting_tasks, job_environment):
    task = waiting_tasks.start()
    result = run([*script_command(shell, task.ref, "{}")[:-2], "ten", "0"], job_environment)
    assert result.returncode == 2
    assert waiting_tasks.outcome(task)["error"] == "Job.InvalidInput"


def test_terminated_job_reports_and_exits_143(shell, waiting_tasks, job_environment):
    task = waiting_tasks.start()
    process = subprocess.Popen(
        script_command(shell, task.ref, '{"name": "long"}', sleep=300, heartbeat=1),
        env=job_environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for line in process.stdout:  # ends at EOF if the script dies early
            if "started" in line:
                break
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 143
    finally:
        process.kill()
    outcome = waiting_tasks.outcome(task)
    assert (outcome["status"], outcome["error"]) == ("FAILED", "Job.Terminated")
    assert "status 143" in outcome["cause"]


def test_array_child_without_token_prints_its_result(shell, job_environment):
    env = {**job_environment, "AWS_BATCH_JOB_ARRAY_INDEX": "3"}
    result = run(script_command(shell, "none", '{"name": "a"}'), env)
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout.strip().splitlines()[-1])
    assert output["arrayIndex"] == "3" and output["entry"] == {"name": "a"}


def test_the_token_is_never_printed(shell, waiting_tasks, job_environment):
    runs = []
    for entry in ('{"name": "ok"}', '{"expectedJobStatus": "FAILED"}', "broken"):
        task = waiting_tasks.start()
        runs.append((task.token, run(script_command(shell, task.ref, entry, sleep=1, heartbeat=1), job_environment)))
    for token, result in runs:
        printed = result.stdout + result.stderr
        assert token[-8:] in printed
        assert token not in printed


def test_job_definition_command_fetches_the_script_from_s3_and_runs_it(shell, clients, waiting_tasks, job_environment):
    """The template's container command, Ref:: placeholders replaced as Batch does, run as-is."""
    definition = resources("AWS::Batch::JobDefinition")["JobDefinition"]["Properties"]
    clients["s3"].create_bucket(Bucket="scripts")
    clients["s3"].put_bucket_versioning(Bucket="scripts", VersioningConfiguration={"Status": "Enabled"})
    published = clients["s3"].put_object(Bucket="scripts", Key=BATCH_SCRIPT.name, Body=BATCH_SCRIPT.read_bytes())
    # A later version of the script: the job runs the version its definition names, not the latest.
    clients["s3"].put_object(Bucket="scripts", Key=BATCH_SCRIPT.name, Body=b"exit 99\n")
    task = waiting_tasks.start()
    parameters = {**definition["Parameters"], "taskRef": task.ref, "entry": '{"name": "via-s3"}'}
    command = [
        parameters[arg[5:]] if arg.startswith("Ref::") else arg for arg in definition["ContainerProperties"]["Command"]
    ]
    assert command[0] == "sh"
    script = {"BATCH_SCRIPT_BUCKET": "scripts", "BATCH_SCRIPT_KEY": BATCH_SCRIPT.name}

    result = run([*shell, *command[1:]], {**job_environment, **script, "BATCH_SCRIPT_VERSION": published["VersionId"]})

    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(waiting_tasks.outcome(task)["output"])["entry"] == {"name": "via-s3"}


def test_sample_payload_entry_round_trips(shell, waiting_tasks, job_environment):
    entry = json.loads((TEST_INPUTS / "batchjobsubmitfunction-payload.json").read_text())["entry"]
    task = waiting_tasks.start()
    assert run(script_command(shell, task.ref, json.dumps(entry)), job_environment).returncode == 0
    assert json.loads(waiting_tasks.outcome(task)["output"])["entry"] == entry


def test_a_reference_without_a_token_fails_the_job_and_reports_nothing(shell, waiting_tasks, job_environment):
    task = waiting_tasks.start()

    result = run(script_command(shell, "ref-that-was-never-stored", '{"name": "lost"}'), job_environment)

    assert result.returncode == 3
    assert "cannot be read" in result.stdout + result.stderr
    assert waiting_tasks.is_waiting(task), "no task was reported to (the heartbeat bounds the wait)"
