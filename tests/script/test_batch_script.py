"""The batch script run for real, under dash and busybox sh, against a moto server on 127.0.0.1:
what the waiting Step Functions task receives, and the batch's results file in the runs bucket."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.script.job_script import (
    HEARTBEAT_SECONDS,
    RUNS_BUCKET,
    batch_items,
    has_object,
    json_lines,
    read_results,
    results_key,
    run,
    script_command,
)
from tests.support.paths import BATCH_SCRIPT, TEST_INPUTS
from tests.support.template import resources

SIMULATED_FAILURE = "Job.SimulatedFailure"
HOSTILE_TEXT = {
    "quotes": "she said \"hi\" and 'bye'",
    "backslashes": 'C:\\temp\\new\\table \\" \\\\ \\n',
    "newlines": "line1\nline2\r\nline3\t tab",
    "unicode": "é ñ ü 中文 🚀 \u2028 \u2029 \u0000 \x7f end",
    "shell": "$(touch pwned) `touch pwned` ${HOME} $HOME; touch pwned && echo | cat > pwned",
}
HOSTILE_ENTRY = {
    "name": "hostile",
    **HOSTILE_TEXT,
    "nested": {"list": [1, 2.5, True, None, "x"], "empty": {}, "expectedJobStatus": "FAILED"},
}
# Names reach the results file: every kind of hostile text, one per entry, and all of it in one.
HOSTILE_NAMES = [*HOSTILE_TEXT.values(), "".join(HOSTILE_TEXT.values())]


def hostile_batch(first: int = 0) -> list[dict[str, Any]]:
    """A batch whose names and entries hold hostile text; the entry at position 2 asks to fail (only a
    top-level expectedJobStatus counts: the nested one of HOSTILE_ENTRY does not)."""
    entries = [
        {"name": "plain"},
        HOSTILE_ENTRY,
        {"name": "asks to fail", "expectedJobStatus": "FAILED", **HOSTILE_TEXT},
        *({"name": name, "text": name} for name in HOSTILE_NAMES),
        {"name": "last", "expectedJobStatus": "SUCCEEDED"},
    ]
    return batch_items(*entries, first=first)


def expected_status(item: dict[str, Any]) -> str:
    return "FAILED" if item["entry"].get("expectedJobStatus") == "FAILED" else "SUCCEEDED"


def assert_results(results: list[dict[str, Any]], items: list[dict[str, Any]], job_id: str, attempt: int) -> None:
    """Every entry exactly once, in index order, with its name intact and the right status."""
    assert [r["index"] for r in results] == [i["index"] for i in items]
    for result, item in zip(results, items, strict=True):
        common = {"index": item["index"], "name": item["name"], "jobId": job_id, "attempt": attempt}
        if expected_status(item) == "FAILED":
            assert list(result) == ["index", "name", "status", "error", "cause", "jobId", "attempt"]
            assert result == {**common, "status": "FAILED", "error": SIMULATED_FAILURE, "cause": result["cause"]}
            assert "expectedJobStatus" in result["cause"]
        else:
            assert list(result) == ["index", "name", "status", "jobId", "attempt"]
            assert result == {**common, "status": "SUCCEEDED"}


def counts(items: list[dict[str, Any]], job_id: str, attempt: int = 1) -> dict[str, Any]:
    failed = sum(1 for item in items if expected_status(item) == "FAILED")
    return {"jobId": job_id, "attempt": attempt, "succeeded": len(items) - failed, "failed": failed}


def test_a_batch_reports_every_entry_and_the_counts(shell, waiting_tasks, job_environment, clients, tmp_path):
    items = hostile_batch(first=40)
    task = waiting_tasks.start(entries=items)
    key = results_key()
    env = {**job_environment, "AWS_BATCH_JOB_ATTEMPT": "2"}

    result = run(script_command(shell, task.ref, key), env, cwd=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    outcome = waiting_tasks.outcome(task)
    assert outcome["status"] == "SUCCEEDED"
    job_id = job_environment["AWS_BATCH_JOB_ID"]
    assert json.loads(outcome["output"]) == counts(items, job_id, attempt=2)
    assert counts(items, job_id)["failed"] == 1
    _, results = read_results(clients["s3"], key)
    assert_results(results, items, job_id, attempt=2)
    assert clients["s3"].head_object(Bucket=RUNS_BUCKET, Key=key)["ContentType"] == "application/x-ndjson"
    assert not (tmp_path / "pwned").exists(), "entry text was run as shell code"


def test_a_quick_batch_ends_although_its_heartbeat_loop_has_just_started(shell, waiting_tasks, job_environment):
    """Work done at once stops the heartbeat loop right after it started: the job must still end.
    (A TERM sent to stop it was lost when the loop's subshell had not yet set its trap, which here,
    on a quiet machine, it nearly always has: this guards the quick path, the race is not forced.)"""
    for _ in range(5):
        task = waiting_tasks.start(entries=batch_items({"name": "quick"}))
        command = script_command(shell, task.ref, results_key(), sleep=0, heartbeat=200)
        result = run(command, job_environment, timeout=30)
        assert result.returncode == 0, result.stdout + result.stderr
        assert waiting_tasks.outcome(task)["status"] == "SUCCEEDED"


@pytest.mark.slow
def test_python3_writes_the_same_results_and_output_as_jq(shell, waiting_tasks, job_environment, clients, tmp_path):
    items = hostile_batch()
    written = {}
    for tool in ("jq", "python3"):
        task, key = waiting_tasks.start(entries=items), results_key()
        result = run(script_command(shell, task.ref, key), {**job_environment, "BATCH_JSON_TOOL": tool}, cwd=tmp_path)
        assert result.returncode == 0, f"{tool}: {result.stdout}{result.stderr}"
        written[tool] = (read_results(clients["s3"], key)[0], waiting_tasks.outcome(task)["output"])

    assert written["python3"] == written["jq"]
    body, output = written["jq"]
    assert_results(json_lines(body), items, job_environment["AWS_BATCH_JOB_ID"], 1)
    assert json.loads(output) == counts(items, job_environment["AWS_BATCH_JOB_ID"])
    assert not (tmp_path / "pwned").exists()


@pytest.mark.slow
def test_heartbeats_keep_a_long_job_alive(shell, waiting_tasks, job_environment, clients):
    items = batch_items({"name": "slow"})
    task, key = waiting_tasks.start(entries=items), results_key()
    work = HEARTBEAT_SECONDS + 2  # longer than the task's heartbeat timeout: only heartbeats save it

    result = run(script_command(shell, task.ref, key, sleep=work, heartbeat=1), job_environment)

    assert result.returncode == 0, result.stdout + result.stderr
    outcome = waiting_tasks.outcome(task)
    assert outcome["status"] == "SUCCEEDED", outcome
    assert json.loads(outcome["output"]) == counts(items, job_environment["AWS_BATCH_JOB_ID"])
    assert_results(read_results(clients["s3"], key)[1], items, job_environment["AWS_BATCH_JOB_ID"], 1)


@pytest.fixture
def counted_sleep(tmp_path: Path, job_environment: dict[str, str]) -> tuple[dict[str, str], Path]:
    """A `sleep` first on the job's PATH that records, as it starts, how many sleeps are under way
    (itself included), then sleeps for real: the most at once, without measuring any time."""
    bin_dir, active, log = tmp_path / "sleep-bin", tmp_path / "active", tmp_path / "sleeps.log"
    bin_dir.mkdir()
    active.mkdir()
    real = shutil.which("sleep", path="/usr/bin:/bin")
    (bin_dir / "sleep").write_text(
        "#!/bin/sh\n"
        f'touch "{active}/$$"\n'
        f'echo "$* $(ls "{active}" | wc -l)" >>"{log}"\n'
        f'"{real}" "$@"\n'
        "status=$?\n"
        f'rm -f "{active}/$$"\n'
        'exit "$status"\n'
    )
    (bin_dir / "sleep").chmod(0o755)
    return {**job_environment, "PATH": f"{bin_dir}:{job_environment['PATH']}"}, log


def test_entry_parallelism_bounds_the_entries_worked_at_once(shell, waiting_tasks, clients, counted_sleep):
    env, sleeps = counted_sleep
    items = batch_items(*({"name": f"e{i}"} for i in range(5)), {"name": "e5", "expectedJobStatus": "FAILED"})
    task, key = waiting_tasks.start(entries=items), results_key()

    result = run(script_command(shell, task.ref, key, sleep=1), {**env, "ENTRY_PARALLELISM": "3"})

    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(waiting_tasks.outcome(task)["output"]) == counts(items, env["AWS_BATCH_JOB_ID"])
    assert_results(read_results(clients["s3"], key)[1], items, env["AWS_BATCH_JOB_ID"], 1)
    records = [line.split() for line in sleeps.read_text().splitlines()]
    assert [seconds for seconds, _ in records] == ["1"] * len(items)  # one sleep per entry, no heartbeat loop
    assert max(int(at_once) for _, at_once in records) <= 3


@pytest.mark.parametrize(
    ("position", "value", "extra_env"),
    [
        pytest.param(3, "ten", {}, id="sleep-not-a-number"),
        pytest.param(3, "-1", {}, id="sleep-negative"),
        pytest.param(4, "1s", {}, id="heartbeat-not-a-number"),
        pytest.param(2, "", {}, id="results-key-missing"),
        pytest.param(3, "0", {"ENTRY_PARALLELISM": "0"}, id="parallelism-zero"),
        pytest.param(3, "0", {"ENTRY_PARALLELISM": "many"}, id="parallelism-not-a-number"),
    ],
)
def test_bad_arguments_are_reported_as_invalid_input(
    shell, waiting_tasks, job_environment, clients, position, value, extra_env
):
    task, key = waiting_tasks.start(entries=batch_items({"name": "a"})), results_key()
    command = script_command(shell, task.ref, key)
    command[len(shell) + position] = value

    result = run(command, {**job_environment, **extra_env})

    assert result.returncode == 2, result.stdout + result.stderr
    outcome = waiting_tasks.outcome(task)
    assert (outcome["status"], outcome["error"]) == ("FAILED", "Job.InvalidInput")
    assert job_environment["AWS_BATCH_JOB_ID"] in outcome["cause"]
    assert not has_object(clients["s3"], key)


@pytest.mark.parametrize(
    "entries",
    [
        pytest.param("not json", id="not-json"),
        pytest.param("[1, 2]", id="not-items"),
        pytest.param('"a string"', id="not-a-list"),
        pytest.param('[{"index": 0, "name": "a", "entry": "not an object"}]', id="entry-not-an-object"),
        pytest.param(None, id="no-entries"),
    ],
)
@pytest.mark.parametrize("tool", ["jq", "python3"])
def test_unreadable_entries_are_reported_as_invalid_input(
    shell, waiting_tasks, job_environment, clients, entries, tool
):
    task, key = waiting_tasks.start(entries=entries), results_key()

    result = run(script_command(shell, task.ref, key), {**job_environment, "BATCH_JSON_TOOL": tool})

    assert result.returncode == 2, result.stdout + result.stderr
    outcome = waiting_tasks.outcome(task)
    assert (outcome["status"], outcome["error"]) == ("FAILED", "Job.InvalidInput")
    assert job_environment["AWS_BATCH_JOB_ID"] in outcome["cause"]
    assert not has_object(clients["s3"], key)


def test_terminated_job_reports_and_exits_143(shell, waiting_tasks, job_environment, clients):
    items = batch_items(*({"name": f"long{i}"} for i in range(4)))
    task, key = waiting_tasks.start(entries=items), results_key()
    process = subprocess.Popen(
        script_command(shell, task.ref, key, sleep=300, heartbeat=1),
        env={**job_environment, "ENTRY_PARALLELISM": "2"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the entries' sleeps are ended with it below
    )
    try:
        for line in process.stdout:  # ends at EOF if the script dies early
            if "started" in line:
                break
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 143
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        process.stdout.close()
    outcome = waiting_tasks.outcome(task)
    assert (outcome["status"], outcome["error"]) == ("FAILED", "Job.Terminated")
    assert "status 143" in outcome["cause"]
    assert not has_object(clients["s3"], key)


def test_array_child_only_sleeps_and_calls_no_aws(shell, job_environment, command_lines):
    env = {**command_lines.environment(job_environment), "AWS_BATCH_JOB_ARRAY_INDEX": "3"}
    # Nothing a child could reach: no table, no bucket, no endpoint.
    for name in ("TASK_TOKEN_TABLE", "RUNS_BUCKET"):
        env.pop(name)
    env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"

    result = run(script_command(shell, "none", "none", sleep=1), env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "array child 3" in result.stdout
    assert command_lines.of("aws") == []


@pytest.mark.slow
def test_the_token_is_never_printed_nor_on_a_command_line(
    shell, waiting_tasks, job_environment, command_lines, clients
):
    env = command_lines.environment(job_environment)
    runs = []
    for entries, sleep, extra_env in (
        (batch_items({"name": "ok"}, {"name": "ko", "expectedJobStatus": "FAILED"}), "1", {}),
        (batch_items({"name": "ok"}), "1", {"BATCH_JSON_TOOL": "python3"}),
        (batch_items({"name": "ok"}), "ten", {}),
        ("broken", "0", {}),
    ):
        task, key = waiting_tasks.start(entries=entries), results_key()
        command = script_command(shell, task.ref, key, heartbeat=1)
        command[len(shell) + 3] = sleep
        runs.append((task, key, run(command, {**env, **extra_env})))

    assert [result.returncode for _, _, result in runs] == [0, 0, 2, 2]
    for task, key, result in runs:
        assert waiting_tasks.outcome(task)["status"] in ("SUCCEEDED", "FAILED")
        printed = result.stdout + result.stderr
        assert task.token[-8:] in printed
        assert task.token not in printed
        assert task.token not in command_lines.text()
        if has_object(clients["s3"], key):
            assert task.token.encode() not in read_results(clients["s3"], key)[0]
    assert command_lines.of("aws") and command_lines.of("jq") and command_lines.of("python3")


def test_job_definition_command_fetches_the_script_from_s3_and_runs_it(shell, clients, waiting_tasks, job_environment):
    """The template's container command, Ref:: placeholders replaced as Batch does, run as-is, with the
    environment the template gives the container."""
    definition = resources("AWS::Batch::JobDefinition")["JobDefinition"]["Properties"]
    environment = {variable["Name"] for variable in definition["ContainerProperties"]["Environment"]}
    assert {"TASK_TOKEN_TABLE", "RUNS_BUCKET", "BATCH_SCRIPT_BUCKET", "BATCH_SCRIPT_KEY"} <= environment
    clients["s3"].create_bucket(Bucket="scripts")
    clients["s3"].put_bucket_versioning(Bucket="scripts", VersioningConfiguration={"Status": "Enabled"})
    published = clients["s3"].put_object(Bucket="scripts", Key=BATCH_SCRIPT.name, Body=BATCH_SCRIPT.read_bytes())
    # A later version of the script: the job runs the version its definition names, not the latest.
    clients["s3"].put_object(Bucket="scripts", Key=BATCH_SCRIPT.name, Body=b"exit 99\n")
    items = batch_items({"name": "via-s3"}, {"name": "also via s3", "expectedJobStatus": "FAILED"})
    task, key = waiting_tasks.start(entries=items), results_key()
    parameters = {**definition["Parameters"], "taskRef": task.ref, "resultsKey": key}
    command = [
        parameters[arg[5:]] if arg.startswith("Ref::") else arg for arg in definition["ContainerProperties"]["Command"]
    ]
    assert command[0] == "sh"
    assert not any(arg.startswith("Ref::") for arg in command), "every placeholder has a default"
    script = {"BATCH_SCRIPT_BUCKET": "scripts", "BATCH_SCRIPT_KEY": BATCH_SCRIPT.name}

    result = run([*shell, *command[1:]], {**job_environment, **script, "BATCH_SCRIPT_VERSION": published["VersionId"]})

    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(waiting_tasks.outcome(task)["output"]) == counts(items, job_environment["AWS_BATCH_JOB_ID"])
    assert_results(read_results(clients["s3"], key)[1], items, job_environment["AWS_BATCH_JOB_ID"], 1)


def test_sample_payload_items_round_trip(shell, waiting_tasks, job_environment, clients):
    items = json.loads((TEST_INPUTS / "batchjobsubmitfunction-payload.json").read_text())["items"]
    task, key = waiting_tasks.start(entries=items), results_key()

    result = run(script_command(shell, task.ref, key), job_environment)

    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(waiting_tasks.outcome(task)["output"]) == counts(items, job_environment["AWS_BATCH_JOB_ID"])
    assert_results(read_results(clients["s3"], key)[1], items, job_environment["AWS_BATCH_JOB_ID"], 1)


@pytest.mark.parametrize("unreadable", ["never-stored", "no-table"])
def test_an_unreadable_reference_exits_3_and_reports_nothing(
    shell, waiting_tasks, job_environment, clients, unreadable
):
    task, key = waiting_tasks.start(entries=batch_items({"name": "lost"})), results_key()
    if unreadable == "never-stored":
        ref, env = "ref-that-was-never-stored", job_environment
    else:
        ref, env = task.ref, {**job_environment, "TASK_TOKEN_TABLE": "no-such-table"}

    result = run(script_command(shell, ref, key), env)

    assert result.returncode == 3, result.stdout + result.stderr
    assert "cannot be read" in result.stdout + result.stderr
    assert waiting_tasks.is_waiting(task), "no task was reported to (the heartbeat bounds the wait)"
    assert not has_object(clients["s3"], key)
