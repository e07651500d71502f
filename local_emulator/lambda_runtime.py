"""Lambda without Docker: the real handler in warm worker processes, one pool per function.

moto stores each function's code zip and configuration; this module replaces the part of moto
that would start a Docker container (`LambdaFunction._invoke_lambda` / `invoke`): it unpacks
the code once, keeps worker processes warm per function (as Lambda keeps execution
environments), runs `Event` invocations asynchronously with Lambda's retries, enforces the
function's timeout, and keeps each invocation's log.

The limits of an execution environment are enforced as their patches switch them on
(local_emulator/patches/awslambda.py): each worker has a /tmp of its own of the function's
EphemeralStorage and its code read-only (lambda_worker.private_tmp: a tmpfs in a mount namespace
of its own, kept across its warm invocations, never shared, as each Lambda execution environment
has its own), and Lambda's 1,024 file descriptors; a worker whose resident memory (with the
processes it started) passes the function's MemorySize while it runs an invocation is killed, as
Lambda's out-of-memory kill ends its runtime, and the next invocation starts a new one. That
memory is read rather than capped by a cgroup: a cgroup would charge the worker's /tmp (a tmpfs)
to its memory, where Lambda's /tmp is disk, and the machines this runs on may offer no memory
controller to write (cgroup v1 held by the machine's supervisor; none to a user who is not root).
"""

import compileall
import contextlib
import enum
import functools
import hashlib
import io
import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_emulator.environment_reads import same_answers
from local_emulator.lambda_fork_server import PRELOADED, receive, send
from local_emulator.role_sessions import RoleSessions

LOG = logging.getLogger(__name__)
WORKER = Path(__file__).with_name("lambda_worker.py")
FORK_SERVER = Path(__file__).with_name("lambda_fork_server.py")
# Read by the interpreter itself as it starts (the locale), not through os.environ: a worker forked
# from an interpreter started without them is not the worker a cold start would give.
STARTUP_VARIABLES = frozenset({"LC_ALL", "LC_CTYPE"})
FORK_SERVER_SECONDS = 60
PRELOADED_PACKAGES = frozenset(name.split(".")[0] for name in PRELOADED)
MAX_WORKERS_PER_FUNCTION = 8
# Lambda retries a failed asynchronous invocation after about one minute, then two more minutes
# (AWS's timing here too: a workflow that only works when retries come sooner fails on AWS).
ASYNC_RETRY_DELAYS = (60.0, 120.0)
# How often a running invocation's memory is read. A peak shorter than this can pass unseen; a
# handler that holds memory past its MemorySize is killed within about this long.
MEMORY_POLL_SECONDS = 0.01
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
MB = 1024 * 1024
DESCRIPTORS = 1024  # Lambda's file descriptors per execution environment


class Ending(enum.Enum):
    """How an invocation ended when its worker did not answer."""

    TIMED_OUT = "timed out"
    OUT_OF_MEMORY = "out of memory"
    EXITED = "exited"


@dataclass
class Invocation:
    function_name: str
    request_id: str
    invocation_type: str
    errored: bool
    duration_seconds: float
    logs: str
    attempt: int = 1
    subject: str = ""  # what an AWS service event was about (its source and job or execution), if it was one


def subject_of(event: Any) -> str:
    """`aws.batch:<job id>` for a job's state change, `aws.states:<execution>` for an execution's; '' else.
    (Never the event itself: the events of callbacks carry task tokens.)"""
    if not isinstance(event, dict) or "source" not in event:
        return ""
    detail = event.get("detail") or {}
    return f"{event['source']}:{detail.get('jobId') or detail.get('executionArn') or ''}"


@dataclass
class InvocationJournal:
    """Every invocation, for progress and for the run's record."""

    invocations: list[Invocation] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, invocation: Invocation) -> None:
        with self.lock:
            self.invocations.append(invocation)


class ForkedProcess:
    """A worker the fork server started: what the pool uses of Popen, through the worker's pidfd."""

    def __init__(self, pid: int, pidfd: int, stdin: io.TextIOWrapper) -> None:
        self.pid, self.pidfd, self.stdin = pid, pidfd, stdin
        self.returncode: int | None = None  # 0 once ended (the fork server reaps it, not this process)

    def poll(self) -> int | None:
        if self.returncode is None and select.select([self.pidfd], [], [], 0)[0]:
            self.returncode = 0
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)

    def wait(self) -> int:
        if self.returncode is None:
            select.select([self.pidfd], [], [])
            self.returncode = 0
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1
            with contextlib.suppress(OSError):  # the worker's end is gone: nothing left to flush
                self.stdin.close()
        return self.returncode


class ForkServer:
    """The client of lambda_fork_server.py: one warm interpreter per runtime, forking its workers."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env = env
        self.lock = threading.Lock()
        self.connection, theirs = socket.socketpair()
        self.process = subprocess.Popen(
            [sys.executable, "-I", str(FORK_SERVER), str(theirs.fileno())],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(theirs.fileno(),),
            start_new_session=True,
        )
        theirs.close()
        # No wait on the server is unbounded (its imports take about a second; a fork, milliseconds):
        # a server that does not answer is given up, and workers start cold.
        self.connection.settimeout(FORK_SERVER_SECONDS)
        try:
            ready, _ = receive(self.connection)
        except OSError:
            self.stop()
            raise
        if ready is None or "read" not in ready:
            self.stop()
            raise RuntimeError(f"the Lambda fork server did not start: {(ready or {}).get('error', 'it ended')}")
        # What a function's environment must answer as this server's did: what its imports read, what
        # it started with, and what the interpreter read as it started.
        self.compared = set(ready["read"]) | set(env) | STARTUP_VARIABLES
        self.broken = False  # once it has failed to start a worker, the next ones start cold

    def fits(self, code_dir: Path, env: dict[str, str]) -> bool:
        """Whether a worker forked from this server is the worker a cold start would give."""
        shadowed = any(
            (code_dir / top).exists() or (code_dir / f"{top}.py").exists() for top in PRELOADED_PACKAGES
        )  # a function that packages its own copy of a library imports that copy
        return not self.broken and not shadowed and same_answers(self.compared, self.env, env)

    def start(
        self, code_dir: Path, env: dict[str, str], limits: dict[str, Any]
    ) -> tuple[ForkedProcess, io.TextIOWrapper]:
        stdin_read, stdin_write = os.pipe()
        read_end, write_end = os.pipe()
        try:
            with self.lock:
                send(self.connection, {"cwd": str(code_dir), "env": env, "limits": limits}, (stdin_read, write_end))
                answer, fds = receive(self.connection, max_fds=1)
        except OSError:
            self.broken = True
            for fd in (stdin_write, read_end):
                os.close(fd)
            raise
        finally:
            os.close(stdin_read)
            os.close(write_end)
        if answer is None or "pid" not in answer or len(fds) != 1:
            for fd in (stdin_write, read_end, *fds):
                os.close(fd)
            self.broken = True
            raise RuntimeError(f"the Lambda fork server started no worker: {(answer or {}).get('error', 'it ended')}")
        return ForkedProcess(answer["pid"], fds[0], os.fdopen(stdin_write, "w")), os.fdopen(read_end)

    def stop(self) -> None:
        self.connection.close()  # the server ends when it reads the end of its socket
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Worker:
    """One execution environment: LIMITS are what lambda_worker.take_limits applies ({} for none)."""

    def __init__(
        self,
        code_dir: Path,
        env: dict[str, str],
        fork_server: ForkServer | None = None,
        limits: dict[str, Any] | None = None,
    ) -> None:
        limits = limits or {}
        if fork_server is not None and fork_server.fits(code_dir, env):
            try:
                self.process, self.responses = fork_server.start(code_dir, env, limits)
                return
            except (OSError, RuntimeError):  # the server is gone: this worker starts cold
                LOG.exception("a Lambda worker could not be forked")
        read_end, write_end = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-I", str(WORKER), str(write_end), json.dumps(limits)],
            cwd=code_dir,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(write_end,),
            text=True,
            start_new_session=True,
        )
        os.close(write_end)
        self.responses = os.fdopen(read_end)

    def call(self, request: dict[str, Any], timeout: float, memory_limit: int | None = None) -> dict[str, Any] | Ending:
        """The worker's response; else how the invocation ended: the worker did not answer in time,
        or held more than MEMORY_LIMIT bytes (it is then killed), or ended by itself."""
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        deadline = time.monotonic() + timeout
        ending = Ending.TIMED_OUT
        while (left := deadline - time.monotonic()) > 0:
            wait = left if memory_limit is None else min(left, MEMORY_POLL_SECONDS)
            if select.select([self.responses], [], [], wait)[0]:
                line = self.responses.readline()
                if line:
                    return json.loads(line)
                ending = Ending.EXITED
                break
            if memory_limit is not None and resident_bytes(self.process.pid) > memory_limit:
                ending = Ending.OUT_OF_MEMORY
                break
        self.stop()
        return ending

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            # Its process group too: what the handler started ends with its execution environment.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.kill()
        self.process.wait()
        self.responses.close()


def resident_bytes(pid: int) -> int:
    """The memory the process PID and the processes it started (through its main thread) hold
    resident; 0 for a process that has ended."""
    total = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open(f"/proc/{pid}/statm", "rb") as statm:
            total = int(statm.read().split()[1]) * PAGE_BYTES
        with open(f"/proc/{pid}/task/{pid}/children", "rb") as children:
            total += sum(resident_bytes(int(child)) for child in children.read().split())
    return total


class FunctionPool:
    """Warm workers of one function version: same code, same configuration."""

    def __init__(
        self,
        code_dir: Path,
        env: dict[str, str],
        limit: int,
        fork_server: Callable[[], ForkServer | None],
        limits: dict[str, Any] | None = None,
        memory_limit: int | None = None,
    ) -> None:
        self.code_dir, self.env, self.fork_server = code_dir, env, fork_server
        self.limits, self.memory_limit = limits or {}, memory_limit
        self.idle: list[Worker] = []
        self.slots = threading.BoundedSemaphore(limit)
        self.lock = threading.Lock()

    def invoke(self, request: dict[str, Any], timeout: float) -> dict[str, Any] | Ending:
        with self.slots:
            with self.lock:
                worker = self.idle.pop() if self.idle else None
            if worker is None or not worker.alive():
                worker = Worker(self.code_dir, self.env, self.fork_server(), self.limits)
            response = worker.call(request, timeout, self.memory_limit)
            if not isinstance(response, Ending) and worker.alive():
                with self.lock:
                    self.idle.append(worker)
            return response

    def stop(self) -> None:
        with self.lock:
            for worker in self.idle:
                worker.stop()
            self.idle.clear()


class LambdaRuntime:
    def __init__(
        self,
        state_dir: Path,
        endpoint_url: str,
        region: str,
        async_retry_delays: tuple[float, ...] = ASYNC_RETRY_DELAYS,
    ) -> None:
        self.async_retry_delays = async_retry_delays
        self.code_root = state_dir / "lambda"
        self.endpoint_url, self.region = endpoint_url, region
        self.pools: dict[tuple[str, ...], FunctionPool] = {}
        self.lock = threading.Lock()
        self.async_invocations = ThreadPoolExecutor(max_workers=32, thread_name_prefix="lambda-event")
        self.journal = InvocationJournal()
        # Fault injection: Lambda may deliver an asynchronous event more than once (function
        # name -> deliveries per event); tests use it to prove idempotency. And an execution
        # environment may crash (function name -> invocations that fail before the handler runs).
        self.deliveries_per_event: dict[str, int] = {}
        self.crashes: dict[str, int] = {}
        self.retries: set[threading.Timer] = set()  # waiting to fire
        self.fork_server_lock = threading.Lock()
        self.forks: ForkServer | None = None
        self.forks_failed = not hasattr(os, "pidfd_open")  # Linux 5.3 and later: else every worker starts cold
        # The execution environment's limits, each switched on by its patch (patches/awslambda.py).
        self.private_tmp = False  # a /tmp of the function's EphemeralStorage
        self.memory_limited = False  # killed past the function's MemorySize
        self.descriptor_limit: int | None = None
        # Each function's credentials: a session of its execution role, named after the function, as
        # Lambda gives them. Kept for hours, so that its workers' environment (its pool's key) stays
        # the same (role_sessions.py).
        self.role_sessions = RoleSessions(region)
        self.unlogged: set[str] = set()  # the functions whose role may not write their logs

    def stop(self) -> None:
        for retry in list(self.retries):
            retry.cancel()
        self.async_invocations.shutdown(wait=False, cancel_futures=True)
        for pool in self.pools.values():
            pool.stop()
        with self.fork_server_lock:
            if self.forks is not None:
                self.forks.stop()
            self.forks, self.forks_failed = None, True

    def fork_server(self) -> ForkServer | None:
        """The warm interpreter workers are forked from, started on the first worker's start."""
        with self.fork_server_lock:
            if self.forks is None and not self.forks_failed:
                try:
                    self.code_root.mkdir(parents=True, exist_ok=True)
                    defaults, lambda_sets = self._shared_environment()
                    self.forks = ForkServer({**defaults, **lambda_sets}, self.code_root)
                except (OSError, RuntimeError):  # only speed is at stake: workers start cold
                    LOG.exception("the Lambda fork server did not start")
                    self.forks_failed = True
            return self.forks

    # -- invocations ---------------------------------------------------------------------
    def invoke(self, function: Any, event: Any, invocation_type: str, attempt: int = 1) -> tuple[str, bool, str]:
        request_id = str(uuid.uuid4())
        started = time.monotonic()
        request = {"event": event, "requestId": request_id, "timeoutSeconds": function.timeout}
        if self._inject_failure(function.function_name):
            response = _exited(request_id, "Runtime exited with error: signal: killed")
        else:
            response = self._pool(function).invoke(request, timeout=function.timeout + 1)
        if response is Ending.TIMED_OUT:
            message = f"{request_id} Task timed out after {function.timeout:.2f} seconds"
            response = {
                "payload": json.dumps({"errorMessage": message, "errorType": "Sandbox.Timedout"}),
                "errored": True,
                "logs": f"START RequestId: {request_id}\n{message}\nEND RequestId: {request_id}\n",
            }
        elif response is Ending.OUT_OF_MEMORY:
            response = _out_of_memory(request_id, int(function.memory_size), time.monotonic() - started)
        elif response is Ending.EXITED:
            response = _exited(request_id, "Runtime exited without providing a reason")
        self._save_logs(function, response["logs"])
        self.journal.add(
            Invocation(
                function.function_name,
                request_id,
                invocation_type,
                response["errored"],
                time.monotonic() - started,
                response["logs"],
                attempt,
                subject_of(event),
            )
        )
        return response["payload"], response["errored"], response["logs"]

    def invoke_later(self, function: Any, event: Any) -> None:
        """An Event invocation: queued, then run and retried in the background (once the emulator
        stops, events still arriving are dropped, as a deleted function's would be)."""
        for _ in range(self.deliveries_per_event.get(function.function_name, 1)):
            with contextlib.suppress(RuntimeError):  # the runtime stopped meanwhile
                self.async_invocations.submit(self.invoke_with_retries, function, event)

    def invoke_with_retries(self, function: Any, event: Any, attempt: int = 1) -> None:
        """One attempt of an Event invocation; a failed one is retried later, as the function's
        EventInvokeConfig says (a timer, so that waiting retries hold no worker thread)."""
        retries = _maximum_retry_attempts(function)
        try:
            _, errored, _ = self.invoke(function, event, "Event", attempt)
        except Exception:  # the runtime itself failed: never lose the event silently
            LOG.exception("asynchronous invocation of %s failed", function.function_name)
            errored = True
        if not errored:
            return
        if attempt > retries:
            LOG.warning("asynchronous invocation of %s failed after %d attempt(s)", function.function_name, attempt)
            return
        delay = self.async_retry_delays[min(attempt - 1, len(self.async_retry_delays) - 1)]
        retry = threading.Timer(delay, self._retry, args=(function, event, attempt + 1))
        retry.daemon = True
        self.retries.add(retry)
        retry.start()

    def _retry(self, function: Any, event: Any, attempt: int) -> None:
        self.retries.discard(threading.current_thread())  # runs in its own timer's thread
        with contextlib.suppress(RuntimeError):  # the emulator stopped meanwhile
            self.async_invocations.submit(self.invoke_with_retries, function, event, attempt)

    # -- helpers -------------------------------------------------------------------------
    def _inject_failure(self, function_name: str) -> bool:
        with self.lock:
            if self.crashes.get(function_name, 0) > 0:
                self.crashes[function_name] -= 1
                return True
        return False

    def _pool(self, function: Any) -> FunctionPool:
        env = self._environment(function)
        memory_mb, tmp_mb = int(function.memory_size), int(function.ephemeral_storage)
        key = (function.function_arn, function.code_sha_256, json.dumps(env, sort_keys=True), memory_mb, tmp_mb)
        with self.lock:
            pool = self.pools.get(key)
            if pool is None:
                limit = function.reserved_concurrency or MAX_WORKERS_PER_FUNCTION
                limits = {"tmpMb": tmp_mb if self.private_tmp else None, "descriptors": self.descriptor_limit}
                pool = self.pools[key] = FunctionPool(
                    self._code_dir(function),
                    env,
                    min(limit, MAX_WORKERS_PER_FUNCTION),
                    self.fork_server,
                    limits,
                    memory_mb * MB if self.memory_limited else None,
                )
            return pool

    def _code_dir(self, function: Any) -> Path:
        digest = hashlib.sha256(function.code_bytes).hexdigest()
        target = self.code_root / digest
        if not target.is_dir():
            staging = self.code_root / f".{digest}.{uuid.uuid4().hex}"
            with zipfile.ZipFile(io.BytesIO(function.code_bytes)) as archive:
                archive.extractall(staging)
            # Compiled once here: a worker with a /tmp of its own sees its code read-only, as on Lambda,
            # and could not keep what it compiles.
            compileall.compile_dir(staging, quiet=2)
            with contextlib.suppress(OSError):  # another thread unpacked the same code first
                staging.rename(target)
        return target

    def _environment(self, function: Any) -> dict[str, str]:
        """The shared defaults, the function's own variables, then what Lambda sets (and keeps): its
        role's credentials among them."""
        defaults, lambda_sets = self._shared_environment()
        env = {**defaults, **{k: str(v) for k, v in (function.environment_vars or {}).items()}}
        env.update(
            {
                "_HANDLER": function.handler,
                "AWS_LAMBDA_FUNCTION_NAME": function.function_name,
                "AWS_LAMBDA_FUNCTION_VERSION": str(function.version),
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.function_name}",
                "LOCAL_EMULATOR_FUNCTION_ARN": function.function_arn,
                **lambda_sets,
                **self.role_sessions.of(function.role, function.function_name).environment(),
            }
        )
        return env

    def _shared_environment(self) -> tuple[dict[str, str], dict[str, str]]:
        """What every function of this runtime gets: defaults its own variables may change, and
        variables Lambda sets itself (not the credentials, each function's own: the fork server, started
        with these, compares none of them)."""
        defaults = {
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.code_root),
            "LANG": "C.UTF-8",
            "TZ": "UTC",
            # X-Ray is not emulated; Powertools' Tracer is switched off as it is for local runs.
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
        lambda_sets = {
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint_url,
        }
        return defaults, lambda_sets

    def _save_logs(self, function: Any, logs: str) -> None:
        """The invocation's log, in a stream of /aws/lambda/<name>, written as Lambda writes it: with the
        function's role (AWSLambdaBasicExecutionRole's permissions). A role that may not write there gets
        nothing written, as on Lambda, where the function runs all the same."""
        from moto.core.utils import utcnow

        from local_emulator.patches import iam_enforcement

        group, backend = function.logs_group_name, function.logs_backend
        now = utcnow()
        stream = f"{now.year}/{now.month:02d}/{now.day:02d}/[{function.version}]{uuid.uuid4().hex}"
        group_arn = f"arn:aws:logs:{function.region}:{function.account_id}:log-group:{group}"
        stream_arn = f"{group_arn}:log-stream:{stream}"
        needed = [] if group in backend.groups else [("logs:CreateLogGroup", group_arn)]
        needed += [("logs:CreateLogStream", stream_arn), ("logs:PutLogEvents", stream_arn)]
        try:
            for action, resource in needed:
                iam_enforcement.authorize_role(
                    function.role, action, resource, session_name=function.function_name, region=function.region
                )
        except iam_enforcement.RequestRefusedError as refusal:
            if function.function_name not in self.unlogged:  # said once: Lambda itself says nothing
                self.unlogged.add(function.function_name)
                LOG.warning("the logs of %s are not written: %s", function.function_name, refusal.message())
            return
        backend.ensure_log_group(group)
        backend.create_log_stream(group, stream)
        events = [{"timestamp": int(time.time() * 1000), "message": line} for line in logs.splitlines()]
        backend.put_log_events(group, stream, events)


def _exited(request_id: str, reason: str) -> dict[str, Any]:
    """An invocation whose execution environment died before the handler answered, as Lambda reports it."""
    message = f"RequestId: {request_id} Error: {reason}"
    return {
        "payload": json.dumps({"errorType": "Runtime.ExitError", "errorMessage": message}),
        "errored": True,
        "logs": f"START RequestId: {request_id}\n{message}\nEND RequestId: {request_id}\n",
    }


def _out_of_memory(request_id: str, memory_mb: int, seconds: float) -> dict[str, Any]:
    """An invocation whose execution environment was killed for passing its MemorySize, as Lambda
    reports it (its memory use capped at MemorySize, as Lambda's REPORT line shows it)."""
    message = f"RequestId: {request_id} Error: Runtime exited with error: signal: killed"
    report = (
        f"REPORT RequestId: {request_id}\tDuration: {seconds * 1000:.2f} ms\tMemory Size: {memory_mb} MB\t"
        f"Max Memory Used: {memory_mb} MB\tStatus: error\tError Type: Runtime.OutOfMemory"
    )
    logs = f"START RequestId: {request_id}\n{message}\nRuntime.OutOfMemory\nEND RequestId: {request_id}\n{report}\n"
    return {
        "payload": json.dumps({"errorType": "Runtime.OutOfMemory", "errorMessage": message}),
        "errored": True,
        "logs": logs,
    }


@functools.cache
def private_tmp_refusal() -> str:
    """Why this machine lets no worker have a /tmp of its own (lambda_worker.private_tmp); '' when
    it does. Tried once per process, from a folder where the emulator's state goes by default."""
    try:
        with tempfile.TemporaryDirectory(prefix="local-emulator-check-") as folder:
            checked = subprocess.run(
                [sys.executable, "-I", str(WORKER), "--check"], cwd=folder, capture_output=True, text=True, timeout=60
            )
    except (OSError, subprocess.TimeoutExpired) as error:
        return str(error)
    return "" if checked.returncode == 0 else (checked.stderr.strip() or f"exit status {checked.returncode}")


def _maximum_retry_attempts(function: Any) -> int:
    for config in function.event_invoke_config or []:
        value = getattr(config, "config", {}).get("MaximumRetryAttempts")
        if value is not None:
            return int(value)
    return 2  # Lambda's default for asynchronous invocations
