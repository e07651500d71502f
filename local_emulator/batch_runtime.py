"""AWS Batch without Docker: each job runs its job definition's command as a host process.

moto keeps the queues, definitions and job records; this module replaces the part of moto that
would run a Docker container (`Job.run`). A job waits RUNNABLE for room in its compute
environment (max vCPUs / job vCPUs; none while it is DISABLED), then runs STARTING → RUNNING → SUCCEEDED/FAILED by exit
code, with the `AWS_BATCH_*` variables, the container environment, a private TMPDIR, the AWS CLI
pointed at the emulator, and the credentials of the job definition's `jobRoleArn` from an endpoint
as ECS serves them (container_credentials.py; a job without a role gets none, as on Fargate); its
output goes to its log stream as its `executionRoleArn` may write it. `attemptDurationSeconds` and
TerminateJob stop the process group (SIGTERM, then SIGKILL after the grace period), and the retry
strategy is applied.
"""

import contextlib
import fnmatch
import json
import logging
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from moto.core.utils import unix_time_millis

from local_emulator.container_credentials import ContainerCredentials

LOG = logging.getLogger(__name__)
KILL_GRACE_SECONDS = 30  # Batch sends SIGKILL 30 s after SIGTERM
MAX_CONTAINER_OVERRIDES_CHARACTERS = 8192  # ECS RunTask: "8192 characters ... includes the JSON formatting"
POLL_SECONDS = 0.05
# A RUNNABLE job wakes this often to see whether it was terminated or its environment disabled (room
# frees wake it at once). At 50 ms, 1,650 waiting jobs of a large run took both CPUs of the machine.
RUNNABLE_POLL_SECONDS = 0.5
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
# On AWS, jobs run on their own Fargate capacity and never slow Step Functions or Lambda; here
# they share the machine's CPUs, so they run at a low priority: many busy jobs cannot starve the
# functions and the engine whose answers the waiting tasks' heartbeats bound. Not the lowest (19):
# other busy processes of the machine (a second test worker) left such jobs about 1.5 % of a CPU,
# and a run of four entries then took minutes; at 10 they keep about a tenth of a CPU.
LOW_PRIORITY = ["nice", "-n", "10"] if shutil.which("nice") else []


class BatchRuntime:
    def __init__(
        self, state_dir: Path, endpoint_url: str, region: str, on_change: Callable[[Any], None] | None = None
    ) -> None:
        self.on_change = on_change or (lambda job: None)  # called after every status change
        self.jobs_dir = state_dir / "jobs"
        self.endpoint_url, self.region = endpoint_url, region
        self.capacity: dict[str, threading.Semaphore] = {}
        self.lock = threading.Lock()
        self.stopping = False
        self.running: dict[str, subprocess.Popen[bytes]] = {}  # job id -> its process
        self.path_first = ""  # a folder whose programs come first on a job's PATH (the warm AWS CLI)
        self.credentials = ContainerCredentials(region)

    @property
    def path(self) -> str:
        """A job's PATH: the warm AWS CLI, then the programs installed beside the emulator, then the system's."""
        return ":".join(filter(None, [self.path_first, str(Path(sys.executable).parent), SYSTEM_PATH]))

    def stop(self) -> None:
        self.stopping = True
        for process in list(self.running.values()):
            signal_group(process, signal.SIGKILL)
        self.credentials.stop()

    # -- one job ---------------------------------------------------------------------------
    def run(self, job: Any) -> None:
        try:
            self._run(job)
        finally:
            _parent_follows(job)

    def _run(self, job: Any) -> None:
        job.status = "PENDING"
        if job.depends_on and not job._wait_for_dependencies():
            self.on_change(job)
            return
        self._change(job, "RUNNABLE")
        capacity = self._capacity(job)
        # As on AWS, a job stays RUNNABLE while its compute environment is DISABLED or full.
        while not (_enabled(job) and capacity.acquire(timeout=RUNNABLE_POLL_SECONDS)):
            if _terminated(job) or self.stopping:
                job._mark_stopped(success=False)
                self.on_change(job)
                return
            if not _enabled(job):
                time.sleep(RUNNABLE_POLL_SECONDS)
        try:
            self._run_attempts(job)
        finally:
            capacity.release()
        self.on_change(job)

    def _change(self, job: Any, status: str) -> None:
        job.status = status
        self.on_change(job)

    def _run_attempts(self, job: Any) -> None:
        if container_overrides_length(job) > MAX_CONTAINER_OVERRIDES_CHARACTERS:
            # ECS refuses to start the task; Batch fails the job with ECS's words, without an attempt.
            job.job_stopped_reason = f"Container Overrides length must be at most {MAX_CONTAINER_OVERRIDES_CHARACTERS}"
            job._mark_stopped(success=False)
            return
        retry = job.job_definition.retry_strategy or {}
        attempts = int(retry.get("attempts", 1))
        for attempt in range(1, attempts + 1):
            job.job_started_at = datetime.now()
            job.log_stream_name = self._log_stream(job, attempt)
            self._change(job, "STARTING")
            job._start_attempt()
            refusal = self._log_stream_refusal(job, attempt)
            if refusal is None:
                self._change(job, "RUNNING")
                exit_code, reason = self._run_process(job, attempt)
                job.latest_attempt["container"]["exitCode"] = exit_code
            else:  # the task never started: no container, no exit code
                exit_code, reason = None, refusal
            job.exit_code = exit_code
            job.latest_attempt["stoppedAt"] = int(unix_time_millis())
            if reason:
                job.latest_attempt["statusReason"] = reason
                job.job_stopped_reason = reason
            if exit_code == 0 and not reason:
                job._mark_stopped(success=True)
                return
            if job.stop or attempt == attempts or not _should_retry(retry, exit_code, reason):
                break
        job._mark_stopped(success=False)

    def _log_stream_refusal(self, job: Any, attempt: int) -> str | None:
        """Why the task cannot start, as ECS words it, when its execution role may not create the attempt's
        log stream (the awslogs driver does it with that role as the task starts); None when it may, or
        when the job definition names no execution role."""
        properties = job.job_definition.container_properties or {}
        role = properties.get("executionRoleArn")
        if not role or (properties.get("logConfiguration") or {}).get("logDriver", "awslogs") != "awslogs":
            return None
        refusal = self._refused_to_execution_role(job, attempt, role, "logs:CreateLogStream")
        if refusal is not None:
            return (
                "ResourceInitializationError: failed to validate logger args: create stream has been retried 1 times: "
                f"failed to create Cloudwatch log stream: AccessDeniedException: {refusal.message()}"
            )
        return None

    def _refused_to_execution_role(self, job: Any, attempt: int, role: str, action: str) -> Any:
        """Whether the job's execution role may take ACTION on its log stream: None, or the refusal."""
        from local_emulator.patches import iam_enforcement

        try:
            iam_enforcement.authorize_role(
                role, action, _log_stream_arn(job), session_name=_task_id(job, attempt), region=self.region
            )
        except iam_enforcement.RequestRefusedError as refusal:
            return refusal
        return None

    def _run_process(self, job: Any, attempt: int) -> tuple[int, str | None]:
        workdir = self.jobs_dir / job.job_id.replace(":", "-") / f"attempt-{attempt}"
        (workdir / "tmp").mkdir(parents=True, exist_ok=True)
        log_path = workdir / "output.log"
        command = substitute_parameters(job._get_container_property("command", []), job.parameters)
        env = self._environment(job, attempt, workdir)
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [*LOW_PRIORITY, *command],
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                process_group=0,  # its own group, to signal it whole; the emulator's session, for `nice`
            )
        self.running[job.job_id] = process
        try:
            reason = self._supervise(job, process)
        finally:
            self.running.pop(job.job_id, None)
            self.credentials.unregister(env)
        self._publish_logs(job, attempt, log_path.read_text(errors="replace"))
        # A container killed by a signal exits with 128 + the signal's number.
        exit_code = process.returncode if process.returncode >= 0 else 128 - process.returncode
        if exit_code == 127 and not reason:
            reason = f"CannotStartContainerError: {command[0]!r} not found"
        return exit_code, reason

    def _supervise(self, job: Any, process: subprocess.Popen[bytes]) -> str | None:
        """Wait for the process; stop it on TerminateJob or when the attempt runs too long."""
        duration = job._get_attempt_duration()
        deadline = time.monotonic() + duration if duration else None
        reason, killed_at = None, None
        while process.poll() is None:
            if reason is None:
                if _terminated(job) or self.stopping:
                    reason = job.job_stopped_reason or "Terminated by the emulator"
                elif deadline is not None and time.monotonic() > deadline:
                    reason = "Job attempt duration exceeded timeout"
                if reason is not None:
                    signal_group(process, signal.SIGTERM)
                    killed_at = time.monotonic() + KILL_GRACE_SECONDS
            elif killed_at is not None and time.monotonic() > killed_at:
                signal_group(process, signal.SIGKILL)
                killed_at = None
            time.sleep(POLL_SECONDS)
        return reason

    # -- helpers -------------------------------------------------------------------------
    def _capacity(self, job: Any) -> threading.Semaphore:
        environment = _compute_environment(job)
        vcpus = float(job._get_container_property("vcpus", 1) or 1)
        key = f"{environment.arn}/{vcpus}"
        with self.lock:
            if key not in self.capacity:
                max_vcpus = float(environment.compute_resources.get("maxvCpus", 1))
                self.capacity[key] = threading.Semaphore(max(1, math.floor(max_vcpus / vcpus)))
            return self.capacity[key]

    def _environment(self, job: Any, attempt: int, workdir: Path) -> dict[str, str]:
        env = {
            "PATH": self.path,
            "HOME": str(workdir),
            "TMPDIR": str(workdir / "tmp"),
            "LANG": "C.UTF-8",
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }
        env.update({e["name"]: e["value"] for e in job._get_container_property("environment", [])})
        env.update(batch_variables(job, attempt))
        env["AWS_ENDPOINT_URL"] = self.endpoint_url
        role = (job.job_definition.container_properties or {}).get("jobRoleArn")
        if role:
            env.update(self.credentials.register(role, _task_id(job, attempt)))
        return env

    @staticmethod
    def _log_stream(job: Any, attempt: int) -> str:
        options = (job.job_definition.container_properties.get("logConfiguration") or {}).get("options") or {}
        prefix = options.get("awslogs-stream-prefix", "job")
        return f"{prefix}/default/{job.job_id.replace(':', '-')}-{attempt}"

    def _publish_logs(self, job: Any, attempt: int, output: str) -> None:
        """The attempt's output, in its log stream, as the awslogs driver sends it: with the execution role
        (what it may not send is lost, the job runs all the same)."""

        properties = job.job_definition.container_properties or {}
        role = properties.get("executionRoleArn")
        refusal = self._refused_to_execution_role(job, attempt, role, "logs:PutLogEvents") if role else None
        if refusal is not None:
            LOG.warning("the log of job %s was not written: %s", job.job_id, refusal.message())
            return
        options = (properties.get("logConfiguration") or {}).get("options") or {}
        group = options.get("awslogs-group", "/aws/batch/job")
        logs = job._log_backend
        logs.ensure_log_group(group)
        logs.ensure_log_stream(group, job.log_stream_name)
        now = int(unix_time_millis())
        events = [{"timestamp": now, "message": line} for line in output.splitlines() or [""]]
        logs.put_log_events(group, job.log_stream_name, events)


def _task_id(job: Any, attempt: int) -> str:
    """What names an attempt's sessions (ECS names them after the task)."""
    return f"{job.job_id.replace(':', '-')}-{attempt}"


def _log_stream_arn(job: Any) -> str:
    options = (job.job_definition.container_properties.get("logConfiguration") or {}).get("options") or {}
    group = options.get("awslogs-group", "/aws/batch/job")
    place = f"{job.backend.region_name}:{job.backend.account_id}"
    return f"arn:aws:logs:{place}:log-group:{group}:log-stream:{job.log_stream_name}"


def batch_variables(job: Any, attempt: int) -> dict[str, str]:
    """The AWS_BATCH_* variables Batch gives each attempt of a job."""
    variables = {
        "AWS_BATCH_JOB_ID": job.job_id,
        "AWS_BATCH_JOB_ATTEMPT": str(attempt),
        "AWS_BATCH_JQ_NAME": job.job_queue.name,
        "AWS_BATCH_CE_NAME": _compute_environment(job).name,
    }
    if "index" in (job.array_properties or {}):
        variables["AWS_BATCH_JOB_ARRAY_INDEX"] = str(job.array_properties["index"])
    return variables


def container_overrides_length(job: Any) -> int:
    """The characters of the container overrides Batch sends to ECS when the job starts on Fargate: the
    command with every Ref:: replaced, and the environment the job adds (its own overrides and Batch's
    variables), as JSON, punctuation and escaping included. ECS caps them at 8,192."""
    overridden = [{"name": e["name"], "value": e["value"]} for e in job.container_overrides.get("environment", [])]
    overridden += [{"name": name, "value": value} for name, value in batch_variables(job, 1).items()]
    command = substitute_parameters(job._get_container_property("command", []), job.parameters)
    overrides = {"containerOverrides": [{"name": "default", "command": command, "environment": overridden}]}
    return len(json.dumps(overrides, separators=(",", ":"), ensure_ascii=False))


def substitute_parameters(command: list[str], parameters: dict[str, str]) -> list[str]:
    """Replace every `Ref::name` placeholder of the command, as Batch does."""
    pattern = re.compile(r"Ref::([A-Za-z0-9_]+)")
    return [pattern.sub(lambda m: parameters.get(m.group(1), m.group(0)), part) for part in command]


def _should_retry(retry: dict[str, Any], exit_code: int, reason: str | None) -> bool:
    """The retry strategy's evaluateOnExit: the first matching rule decides; no rule, retry."""
    for rule in retry.get("evaluateOnExit") or []:
        checks = [
            ("onExitCode", str(exit_code)),
            ("onReason", reason or ""),
            ("onStatusReason", reason or ""),
        ]
        if all(fnmatch.fnmatchcase(value, rule[key]) for key, value in checks if key in rule):
            return rule["action"].upper() == "RETRY"
    return True


def _parent_of(job: Any) -> Any:
    """The array job whose child JOB is (its id is the parent's, then `:index`); None for any other job."""
    parent_id, _, index = job.job_id.rpartition(":")
    return job.backend.get_job_by_id(parent_id) if parent_id and index.isdigit() else None


def _terminated(job: Any) -> bool:
    """Whether JOB was cancelled or terminated: itself, or its array job, which Batch ends with its children."""
    if not job.stop:
        parent = _parent_of(job)
        if parent is not None and parent.stop:
            job.terminate(parent.job_stopped_reason or "Terminated with its array job")
    return job.stop


def _parent_follows(job: Any) -> None:
    """An array job's status as its children stop, for ListJobs too (moto derives it as it describes it)."""
    parent = _parent_of(job)
    if parent is not None:
        parent.describe()


def _compute_environment(job: Any) -> Any:
    first = sorted(job.job_queue.env_order_json, key=lambda e: e["order"])[0]["computeEnvironment"]
    return job.backend.get_compute_environment(first)


def _enabled(job: Any) -> bool:
    return _compute_environment(job).state != "DISABLED"  # ENABLED is the default


def signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
