"""The batch script run for real, under dash and busybox sh, against a moto server on 127.0.0.1: the entry
contract (docs/entry-contract.md) as a command sees it, what the waiting Step Functions task receives,
and the batch's report and output files in the runs bucket."""

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
    Batch,
    batch_items,
    batch_report,
    has_object,
    outputs,
    read_report,
    run,
    script_command,
)
from tests.support.paths import BATCH_SCRIPT, TEST_INPUTS
from tests.support.template import resources

HOSTILE_TEXT = {
    "quotes": "she said \"hi\" and 'bye'",
    "backslashes": 'C:\\temp\\new\\table \\" \\\\ \\n',
    "newlines": "line1\nline2\r\nline3\t tab",
    "unicode": "é ñ ü 中文 🚀 \u2028 \u2029 \u0000 \x7f end",
    "shell": "$(touch pwned) `touch pwned` ${HOME} $HOME; touch pwned && echo | cat > pwned",
}
# Names reach the command's environment: every kind of hostile text a name may hold (no control
# character: the prepare function refuses those), one per entry, and all of it in one.
HOSTILE_NAMES = [
    "she said \"hi\" and 'bye'",
    'C:\\temp\\new \\" \\\\ \\n',
    "é ñ ü 中文 🚀 \u2028 \u2029 \x7f end",
    "$(touch pwned) `touch pwned` ${HOME} $HOME; touch pwned",
    "-n",
]
# Each entry's JSON back as its output document, its name, index, attempt and run as output files.
ECHO = (
    'cat >"$ENTRY_OUTPUT" && cd "$ENTRY_OUTPUT_DIR" && printf %s "$ENTRY_NAME" >name && '
    'printf "%s %s %s" "$ENTRY_INDEX" "$ENTRY_ATTEMPT" "$ENTRY_RUN" >vars && cmp -s "$ENTRY_FILE" /dev/stdin'
)


def hostile_items(first: int = 0) -> list[dict[str, Any]]:
    entries = [
        {"name": "plain"},
        {"name": "hostile", **HOSTILE_TEXT, "nested": {"list": [1, 2.5, True, None, "x"], "empty": {}}},
        *({"name": name, "text": name} for name in HOSTILE_NAMES),
    ]
    return batch_items(*entries, first=first)


def started(waiting_tasks: Any, batch: Batch) -> Any:
    return waiting_tasks.start(plan=batch.plan())


def alive(pid: int) -> bool:
    """Whether process PID runs (a zombie, ended but not yet reaped, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def test_each_entry_gets_its_json_on_stdin_and_in_a_file_its_variables_and_an_output_folder(
    shell, waiting_tasks, job_environment, clients, tmp_path
):
    batch = Batch(hostile_items(first=40), ECHO)
    task = started(waiting_tasks, batch)
    env = {**job_environment, "AWS_BATCH_JOB_ATTEMPT": "2"}

    result = run(script_command(shell, task.ref, batch.report_key), env, cwd=tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    outcome = waiting_tasks.outcome(task)
    assert outcome["status"] == "SUCCEEDED"
    job_id = job_environment["AWS_BATCH_JOB_ID"]
    assert json.loads(outcome["output"]) == {"jobId": job_id, "attempt": 2, "entries": len(batch.items), "failed": 0}
    report, files = read_report(clients["s3"], batch), outputs(clients["s3"], batch)
    assert sorted(report) == [item["index"] for item in batch.items]
    for item in batch.items:
        record = report[item["index"]]
        assert (record.exit_status, record.attempts, record.timed_out, record.output_files) == (0, 1, False, 2)
        assert json.loads(record.output) == item["entry"]
        assert files[f"{item['index']}/name"] == item["name"].encode()
        assert files[f"{item['index']}/vars"] == f"{item['index']} 1 {batch.run_id}".encode()
        assert record.started_ms <= record.ended_ms
    assert not (tmp_path / "pwned").exists(), "entry text was run as shell code"


def test_a_failing_entry_keeps_its_exit_status_and_the_end_of_its_stderr(
    shell, waiting_tasks, job_environment, clients
):
    command = (
        'if grep -q fail "$ENTRY_FILE"; then head -c 10000 /dev/zero | tr "\\0" x >&2; '
        "printf 'last words \\377\\n' >&2; exit 7; fi"
    )
    batch = Batch(batch_items({"name": "ok"}, {"name": "fail"}, {"name": "ok too"}), command)
    task = started(waiting_tasks, batch)

    result = run(script_command(shell, task.ref, batch.report_key), job_environment)

    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(waiting_tasks.outcome(task)["output"])["failed"] == 1
    report = read_report(clients["s3"], batch)
    assert [report[i].exit_status for i in range(3)] == [0, 7, 0]
    failed = report[1]
    assert len(failed.stderr) == 4096 and failed.stderr.endswith(b"xxxlast words \xff\n")
    status, error, cause, _ = batch_report.result(failed, "s3://runs/outputs/")
    assert (status, error) == ("FAILED", "Entry.Failed")
    assert cause.endswith("last words \ufffd\n")
    assert "entry 1 failed (exit 7" in result.stdout, "a failed entry's output is in the job's log"


@pytest.mark.parametrize(("succeeds_at", "attempts_made", "status"), [(2, 2, 0), (9, 3, 1)])
def test_a_failed_entry_is_tried_again_up_to_its_attempts(
    shell, waiting_tasks, job_environment, clients, succeeds_at, attempts_made, status
):
    command = f'[ "$ENTRY_ATTEMPT" -ge {succeeds_at} ] || exit 1'
    batch = Batch(batch_items({"name": "flaky"}), command, attempts=3, backoff=1)
    task = started(waiting_tasks, batch)

    result = run(script_command(shell, task.ref, batch.report_key), job_environment)

    assert result.returncode == 0, result.stdout + result.stderr
    record = read_report(clients["s3"], batch)[0]
    assert (record.attempts, record.exit_status) == (attempts_made, status)


def test_an_entry_past_its_timeout_is_stopped_with_every_process_it_started(
    shell, waiting_tasks, job_environment, clients, tmp_path
):
    """Its shell ignores TERM (KILL follows the grace), a child sleeps, and a daemon it forked left its
    process tree: none of them runs on. The other entry is not touched."""
    pids = tmp_path / "pids"
    pids.mkdir()
    command = (
        'case "$ENTRY_NAME" in quick) exit 0;; esac; trap "" TERM; '
        f'sleep 300 & echo $! >"{pids}/child"; (sleep 301 & echo $! >"{pids}/daemon"); '
        "while :; do sleep 1; done"
    )
    batch = Batch(batch_items({"name": "stuck"}, {"name": "quick"}), command, timeout=1)
    task = started(waiting_tasks, batch)

    env = {**job_environment, "ENTRY_KILL_GRACE_SECONDS": "1"}
    result = run(script_command(shell, task.ref, batch.report_key), env)

    assert result.returncode == 0, result.stdout + result.stderr
    report = read_report(clients["s3"], batch)
    assert report[0].timed_out and report[0].exit_status != 0
    assert batch_report.result(report[0], "")[1] == "Entry.Timeout"
    assert (report[1].timed_out, report[1].exit_status) == (False, 0)
    for name in ("child", "daemon"):
        assert not alive(int((pids / name).read_text())), f"the entry's {name} still runs"


def test_a_daemon_an_entry_leaves_is_stopped_before_the_job_reports(shell, waiting_tasks, job_environment, tmp_path):
    pid_file = tmp_path / "daemon"
    batch = Batch(batch_items({"name": "forks"}), f'(sleep 300 & echo $! >"{pid_file}")')
    task = started(waiting_tasks, batch)

    result = run(script_command(shell, task.ref, batch.report_key), job_environment)

    assert result.returncode == 0, result.stdout + result.stderr
    assert not alive(int(pid_file.read_text()))


def test_what_an_entry_prints_and_writes_is_bounded(shell, waiting_tasks, job_environment, clients):
    """100 MB on stdout is fine and leaves nothing in the report; a command printing without end is
    stopped by the file limit (SIGXFSZ) instead of filling the disk."""
    command = 'case "$ENTRY_NAME" in endless) yes;; *) head -c 100000000 /dev/zero;; esac'
    batch = Batch(batch_items({"name": "100 MB"}, {"name": "endless"}), command)
    task = started(waiting_tasks, batch)

    env = {**job_environment, "ENTRY_MAX_FILE_BLOCKS": "400000"}
    result = run(script_command(shell, task.ref, batch.report_key), env)

    assert result.returncode == 0, result.stdout + result.stderr
    report = read_report(clients["s3"], batch)
    assert report[0].exit_status == 0
    assert report[1].exit_status == 128 + signal.SIGXFSZ
    body = clients["s3"].get_object(Bucket=RUNS_BUCKET, Key=batch.report_key)["Body"].read()
    assert len(body) < 1000


def test_an_entry_leaving_more_files_than_allowed_uploads_none(shell, waiting_tasks, job_environment, clients):
    command = 'n=0; while [ $n -lt "$COUNT" ]; do : >"$ENTRY_OUTPUT_DIR/f$n"; n=$((n + 1)); done'
    batch = Batch(batch_items({"name": "few"}, {"name": "many"}), command, max_files=20)
    few_and_many = 'case "$ENTRY_NAME" in few) COUNT=20;; *) COUNT=10000;; esac; export COUNT; '
    batch.command = few_and_many + command
    task = started(waiting_tasks, batch)

    result = run(script_command(shell, task.ref, batch.report_key), job_environment)

    assert result.returncode == 0, result.stdout + result.stderr
    report = read_report(clients["s3"], batch)
    assert (report[0].output_files, report[1].output_files) == (20, 10000)
    assert sorted({key.split("/")[0] for key in outputs(clients["s3"], batch)}) == ["0"]


def test_the_job_needs_neither_jq_nor_python3_and_never_shows_its_token(
    shell, waiting_tasks, job_environment, command_lines, clients
):
    env = command_lines.environment(job_environment)
    batch = Batch(batch_items({"name": "ok"}, {"name": "fails"}), 'case "$ENTRY_NAME" in fails) exit 1;; esac')
    task = started(waiting_tasks, batch)

    result = run(script_command(shell, task.ref, batch.report_key, heartbeat=1), env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert waiting_tasks.outcome(task)["status"] == "SUCCEEDED"
    assert command_lines.of("jq") == [] and command_lines.of("python3") == []
    assert command_lines.of("aws")
    printed = result.stdout + result.stderr
    assert task.token[-8:] in printed and task.token not in printed
    assert task.token not in command_lines.text()
    assert task.token.encode() not in clients["s3"].get_object(Bucket=RUNS_BUCKET, Key=batch.report_key)["Body"].read()


@pytest.mark.slow
def test_heartbeats_keep_a_long_job_alive(shell, waiting_tasks, job_environment, clients):
    work = HEARTBEAT_SECONDS + 2  # longer than the task's heartbeat timeout: only heartbeats save it
    batch = Batch(batch_items({"name": "slow"}), f"sleep {work}")
    task = started(waiting_tasks, batch)

    result = run(script_command(shell, task.ref, batch.report_key, heartbeat=1), job_environment)

    assert result.returncode == 0, result.stdout + result.stderr
    outcome = waiting_tasks.outcome(task)
    assert outcome["status"] == "SUCCEEDED", outcome
    assert read_report(clients["s3"], batch)[0].exit_status == 0


@pytest.fixture
def counted_sleep(tmp_path: Path, job_environment: dict[str, str]) -> tuple[dict[str, str], Path]:
    """A `sleep` first on the job's PATH that records, as it starts, how many sleeps of the same length
    are under way (itself included), then sleeps for real: the most at once, without measuring any time."""
    bin_dir, active, log = tmp_path / "sleep-bin", tmp_path / "active", tmp_path / "sleeps.log"
    bin_dir.mkdir()
    active.mkdir()
    real = shutil.which("sleep", path="/usr/bin:/bin")
    (bin_dir / "sleep").write_text(
        "#!/bin/sh\n"
        f'touch "{active}/$1.$$"\n'
        f'echo "$* $(ls "{active}" | grep -c "^$1\\.")" >>"{log}"\n'
        f'"{real}" "$@"\n'
        "status=$?\n"
        f'rm -f "{active}/$1.$$"\n'
        'exit "$status"\n'
    )
    (bin_dir / "sleep").chmod(0o755)
    return {**job_environment, "PATH": f"{bin_dir}:{job_environment['PATH']}"}, log


def test_parallelism_bounds_the_entries_run_at_once(shell, waiting_tasks, clients, counted_sleep):
    env, sleeps = counted_sleep
    batch = Batch(batch_items(*({"name": f"e{i}"} for i in range(6))), "sleep 2", parallelism=3)
    task = started(waiting_tasks, batch)

    result = run(script_command(shell, task.ref, batch.report_key), env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(waiting_tasks.outcome(task)["output"])["entries"] == 6
    records = [line.split() for line in sleeps.read_text().splitlines() if line.startswith("2 ")]
    assert len(records) == 6  # one sleep per entry (the ticker's sleeps are of 1 s)
    assert max(int(at_once) for _, at_once in records) <= 3


@pytest.mark.parametrize(
    ("position", "value"),
    [
        pytest.param(3, "ten", id="sleep-not-a-number"),
        pytest.param(3, "-1", id="sleep-negative"),
        pytest.param(4, "1s", id="heartbeat-not-a-number"),
        pytest.param(2, "", id="report-key-missing"),
    ],
)
def test_bad_arguments_are_reported_as_invalid_input(shell, waiting_tasks, job_environment, clients, position, value):
    batch = Batch(batch_items({"name": "a"}), "true")
    task = started(waiting_tasks, batch)
    command = script_command(shell, task.ref, batch.report_key)
    command[len(shell) + position] = value

    result = run(command, job_environment)

    assert result.returncode == 2, result.stdout + result.stderr
    outcome = waiting_tasks.outcome(task)
    assert (outcome["status"], outcome["error"]) == ("FAILED", "Job.InvalidInput")
    assert job_environment["AWS_BATCH_JOB_ID"] in outcome["cause"]
    assert not has_object(clients["s3"], batch.report_key)


@pytest.mark.parametrize(
    "plan",
    [
        pytest.param("command\ttrue\ntimeout\tten\n\n0\ta\t{}\n", id="setting-not-a-number"),
        pytest.param("timeout\t5\n\n0\ta\t{}\n", id="no-command"),
        pytest.param("command\ttrue\nparallelism\t0\n\n0\ta\t{}\n", id="no-entry-at-once"),
        pytest.param(None, id="no-plan"),
    ],
)
def test_an_unusable_plan_is_reported_as_invalid_input(shell, waiting_tasks, job_environment, clients, plan):
    task = waiting_tasks.start(plan=plan)
    key = "runs/bad-plan/reports/000000000.bin"

    result = run(script_command(shell, task.ref, key), job_environment)

    assert result.returncode in (2, 3), result.stdout + result.stderr
    if plan is None:  # an item without a plan is not a task the job can report to
        assert waiting_tasks.is_waiting(task)
    else:
        outcome = waiting_tasks.outcome(task)
        assert (outcome["status"], outcome["error"]) == ("FAILED", "Job.InvalidInput")
    assert not has_object(clients["s3"], key)


def test_terminated_job_reports_and_exits_143(shell, waiting_tasks, job_environment, clients):
    batch = Batch(batch_items(*({"name": f"long{i}"} for i in range(4))), "sleep 300", parallelism=2)
    task = started(waiting_tasks, batch)
    process = subprocess.Popen(
        script_command(shell, task.ref, batch.report_key, heartbeat=1),
        env=job_environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: whatever is left is ended with it below
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
    assert not has_object(clients["s3"], batch.report_key)


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


def test_job_definition_command_fetches_the_script_from_s3_and_runs_it(shell, clients, waiting_tasks, job_environment):
    """The template's container command, Ref:: placeholders replaced as Batch does, run as-is, with the
    environment the template gives the container: the default command, the sample, is fetched too."""
    definition = resources("AWS::Batch::JobDefinition")["JobDefinition"]["Properties"]
    environment = {variable["Name"] for variable in definition["ContainerProperties"]["Environment"]}
    assert {"TASK_TOKEN_TABLE", "RUNS_BUCKET", "BATCH_SCRIPT_BUCKET", "BATCH_SCRIPT_KEY", "SAMPLE_COMMAND_KEY"} <= (
        environment
    )
    s3 = clients["s3"]
    s3.create_bucket(Bucket="scripts")
    s3.put_bucket_versioning(Bucket="scripts", VersioningConfiguration={"Status": "Enabled"})
    published = s3.put_object(Bucket="scripts", Key=BATCH_SCRIPT.name, Body=BATCH_SCRIPT.read_bytes())
    sample = BATCH_SCRIPT.parent / "s3-digest.py"
    sample_version = s3.put_object(Bucket="scripts", Key=sample.name, Body=sample.read_bytes())["VersionId"]
    # A later version of the script: the job runs the version its definition names, not the latest.
    s3.put_object(Bucket="scripts", Key=BATCH_SCRIPT.name, Body=b"exit 99\n")
    s3.put_object(Bucket=RUNS_BUCKET, Key="inputs/hello.txt", Body=b"hello world\nbye\n")
    entry = {"name": "hello", "bucket": RUNS_BUCKET, "key": "inputs/hello.txt"}
    batch = Batch(batch_items(entry, {"name": "missing", "bucket": RUNS_BUCKET, "key": "inputs/none"}), "s3-digest")
    task = started(waiting_tasks, batch)
    parameters = {**definition["Parameters"], "taskRef": task.ref, "reportKey": batch.report_key}
    command = [
        parameters[arg[5:]] if arg.startswith("Ref::") else arg for arg in definition["ContainerProperties"]["Command"]
    ]
    assert command[0] == "sh"
    assert not any(arg.startswith("Ref::") for arg in command), "every placeholder has a default"
    env = {
        **job_environment,
        "BATCH_SCRIPT_BUCKET": "scripts",
        "BATCH_SCRIPT_KEY": BATCH_SCRIPT.name,
        "BATCH_SCRIPT_VERSION": published["VersionId"],
        "SAMPLE_COMMAND_KEY": sample.name,
        "SAMPLE_COMMAND_VERSION": sample_version,
    }

    result = run([*shell, *command[1:]], env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(waiting_tasks.outcome(task)["output"])["failed"] == 1
    report = read_report(s3, batch)
    digest = json.loads(report[0].output)
    assert digest == {"bytes": 16, "lines": 2, "words": 3, "sha256": digest["sha256"]}
    assert outputs(s3, batch)["0/hello.txt.sha256"] == f"{digest['sha256']}  hello.txt\n".encode()
    assert report[1].exit_status == 1 and b"cannot be read" in report[1].stderr


def test_sample_payload_items_round_trip(shell, waiting_tasks, job_environment, clients):
    items = json.loads((TEST_INPUTS / "batchjobsubmitfunction-payload.json").read_text())["items"]
    batch = Batch(items, ECHO)
    task = started(waiting_tasks, batch)

    result = run(script_command(shell, task.ref, batch.report_key), job_environment)

    assert result.returncode == 0, result.stdout + result.stderr
    report = read_report(clients["s3"], batch)
    assert [json.loads(report[i["index"]].output) for i in items] == [i["entry"] for i in items]


@pytest.mark.parametrize("unreadable", ["never-stored", "no-table"])
def test_an_unreadable_reference_exits_3_and_reports_nothing(shell, waiting_tasks, job_environment, unreadable):
    batch = Batch(batch_items({"name": "lost"}), "true")
    task = started(waiting_tasks, batch)
    if unreadable == "never-stored":
        ref, env = "ref-that-was-never-stored", job_environment
    else:
        ref, env = task.ref, {**job_environment, "TASK_TOKEN_TABLE": "no-such-table"}

    result = run(script_command(shell, ref, batch.report_key), env)

    assert result.returncode == 3, result.stdout + result.stderr
    assert "cannot be read" in result.stdout + result.stderr
    assert waiting_tasks.is_waiting(task), "no task was reported to (the heartbeat bounds the wait)"
