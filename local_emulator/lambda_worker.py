"""A warm Lambda execution environment: imports one handler once, then runs invocations.

Started by lambda_runtime.py with the function's environment, its code folder as the working
directory, requests on stdin and responses on the file descriptor given as argv[1]. Each
invocation's stdout and stderr (the function's log) are captured at the file-descriptor level,
so Powertools' JSON lines and tracebacks land in that invocation's log, as in CloudWatch.

Before it imports the handler, the worker takes on the limits of Lambda's execution environment
that argv[2] names (JSON): a /tmp of its own of the function's ephemeral storage, with its code
read-only (`private_tmp`), and Lambda's 1,024 file descriptors. `python lambda_worker.py --check`
says whether this machine lets a worker have its own /tmp (exit status 0), or why not (on stderr).
"""

import ctypes
import importlib
import json
import os
import resource
import sys
import tempfile
import time
import traceback
import uuid
from typing import Any

CLONE_NEWNS, CLONE_NEWUSER = 0x00020000, 0x10000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x1, 0x2, 0x4, 0x20, 0x1000, 0x4000, 0x40000
# A mount's flags that a read-only remount of a bind of it keeps (statvfs's ST_* have MS_*'s values);
# in a user namespace, a remount that dropped one of them would be refused.
KEPT_FLAGS = os.ST_NOSUID | os.ST_NODEV | os.ST_NOEXEC | os.ST_NOATIME | os.ST_NODIRATIME | os.ST_RELATIME
TMP = "/tmp"  # noqa: S108 (the mount point itself)


class Context:
    """The Lambda context object handlers receive."""

    def __init__(self, request_id: str, deadline: float) -> None:
        self.aws_request_id = request_id
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
        self.invoked_function_arn = os.environ["LOCAL_EMULATOR_FUNCTION_ARN"]
        self.log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
        self.log_stream_name = "local"
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def error_payload(exc: BaseException, request_id: str, error_type: str | None = None, message: str = "") -> str:
    """As Lambda's Python runtime reports an error: the handler's frames only, not the runtime's."""
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if frame.filename != __file__]
    return json.dumps(
        {
            "errorMessage": message or str(exc),
            "errorType": error_type or type(exc).__name__,
            "requestId": request_id,
            "stackTrace": traceback.format_list(frames),
        }
    )


def _checked(result: int, what: str) -> None:
    if result != 0:
        number = ctypes.get_errno()
        raise OSError(number, f"{what}: {os.strerror(number)}")


def private_tmp(size_mb: int) -> None:
    """This process's /tmp becomes a tmpfs of SIZE_MB MiB that only it and the processes it starts
    see, so that a write past it fails with ENOSPC as on Lambda; the host's /tmp is untouched, and
    the tmpfs goes with the last of them. It lives in a mount namespace of this process's own (and,
    where that needs a privilege this process lacks, in a user namespace of its own too, mapping its
    user and group to themselves).

    The code folder (the working directory) is bound read-only over itself, as Lambda's /var/task
    is. What of the host's /tmp the worker runs from (the emulator's state folder is there by
    default; the interpreter, its libraries and the emulator are, in a project cloned there) is
    bound back into the new /tmp at the same path, so that every path the worker holds (its folder,
    sys.path, HOME) still leads where it led; a handler that empties its /tmp cannot delete its code."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        uid, gid = os.geteuid(), os.getegid()
        _checked(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS), "unshare(CLONE_NEWUSER | CLONE_NEWNS)")
        for name, line in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
            with open(f"/proc/self/{name}", "w") as mapping:
                mapping.write(line)
    # Private first: a mount made here must not propagate to the host's namespace.
    _checked(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "mount --make-rprivate /")
    code = os.getcwd()
    kept = os.statvfs(".").f_flag & KEPT_FLAGS
    host_tmp = os.open(TMP, os.O_PATH | os.O_DIRECTORY)
    options = f"size={size_mb}m,mode=1777".encode()
    _checked(libc.mount(b"tmpfs", TMP.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options), "mount tmpfs /tmp")
    for name in sorted(host_tmp_entries_in_use(code)):
        os.makedirs(f"{TMP}/{name}", exist_ok=True)
        source = f"/proc/self/fd/{host_tmp}/{name}".encode()
        _checked(libc.mount(source, f"{TMP}/{name}".encode(), None, MS_BIND | MS_REC, None), f"mount --bind {name}")
    os.close(host_tmp)
    if code.startswith(f"{TMP}/"):
        os.makedirs(code, exist_ok=True)
    _checked(libc.mount(b".", code.encode(), None, MS_BIND | MS_REC, None), f"mount --bind {code}")
    remount = MS_REMOUNT | MS_BIND | MS_RDONLY | kept
    _checked(libc.mount(None, code.encode(), None, remount, None), f"mount -o remount,bind,ro {code}")
    os.chdir(code)
    tempfile.tempdir = None  # gettempdir() finds /tmp again (a forked worker's may have been cached)


def host_tmp_entries_in_use(code: str) -> set[str]:
    """The entries of the host's /tmp that hold what this process runs from: its interpreter, its
    libraries, the emulator itself (a project cloned under /tmp), its code folder and HOME."""
    paths = [code, sys.prefix, sys.exec_prefix, sys.base_prefix, *sys.path, os.environ.get("HOME", "")]
    return {path[len(TMP) + 1 :].split("/", 1)[0] for path in paths if path.startswith(f"{TMP}/")}


def take_limits(limits: dict[str, Any]) -> None:
    """The execution environment's limits, as lambda_runtime.py names them."""
    if limits.get("tmpMb"):
        private_tmp(limits["tmpMb"])
    if limits.get("descriptors"):
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        most = limits["descriptors"] if hard == resource.RLIM_INFINITY else min(limits["descriptors"], hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (most, most))


def check() -> int:
    try:
        private_tmp(1)
    except OSError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


def load_handler() -> Any:
    module_name, function_name = os.environ["_HANDLER"].rsplit(".", 1)
    sys.path.insert(0, os.getcwd())
    return getattr(importlib.import_module(module_name), function_name)


def invoke(handler: Any, init_error: BaseException | None, request: dict[str, Any]) -> tuple[str, bool]:
    request_id = request["requestId"]
    if init_error is not None:
        module = os.environ["_HANDLER"].rsplit(".", 1)[0]
        message = f"Unable to import module '{module}': {init_error}"
        return error_payload(init_error, request_id, "Runtime.ImportModuleError", message), True
    context = Context(request_id, time.monotonic() + request["timeoutSeconds"])
    try:
        result = handler(request["event"], context)
    except Exception as exc:  # reported to the caller as Lambda reports an unhandled error
        traceback.print_exc()
        return error_payload(exc, request_id), True
    try:
        return json.dumps(result), False
    except TypeError as exc:  # bytes, sets, objects: Lambda cannot return them either
        return error_payload(exc, request_id, "Runtime.MarshalError", f"Unable to marshal response: {exc}"), True


def main() -> None:
    responses = os.fdopen(int(sys.argv[1]), "w")
    try:
        take_limits(json.loads(sys.argv[2]) if len(sys.argv) > 2 else {})
        limits_error = None
    except OSError as exc:  # every invocation fails, saying why
        limits_error = exc
    log_fd_out, log_fd_err = os.dup(1), os.dup(2)
    handler, init_error = None, None
    for line in sys.stdin:
        request = json.loads(line)
        request.setdefault("requestId", str(uuid.uuid4()))
        if limits_error is not None:
            responses.write(json.dumps(without_limits(limits_error, request["requestId"])) + "\n")
            responses.flush()
            continue
        # In memory: the log is the runtime's, not the function's, and takes none of its /tmp.
        with open(os.memfd_create("lambda-log"), "w+b") as log:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                print(f"START RequestId: {request['requestId']} Version: $LATEST", flush=True)
                started = time.monotonic()
                if handler is None and init_error is None:
                    try:
                        handler = load_handler()
                    except Exception as exc:  # an import error fails every invocation, as in Lambda
                        traceback.print_exc()
                        init_error = exc
                payload, errored = invoke(handler, init_error, request)
                sys.stdout.flush()
                sys.stderr.flush()
                duration = (time.monotonic() - started) * 1000
                report = f"REPORT RequestId: {request['requestId']}\tDuration: {duration:.2f} ms\t{memory_used()}"
                print(f"END RequestId: {request['requestId']}", flush=True)
                print(report, flush=True)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(log_fd_out, 1)
                os.dup2(log_fd_err, 2)
            log.seek(0)
            logs = log.read().decode("utf-8", errors="replace")
        responses.write(json.dumps({"payload": payload, "errored": errored, "logs": logs}) + "\n")
        responses.flush()


def memory_used() -> str:
    """The REPORT line's memory fields: the most this process has held resident so far."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    return f"Memory Size: {os.environ['AWS_LAMBDA_FUNCTION_MEMORY_SIZE']} MB\tMax Memory Used: {peak} MB"


def without_limits(error: OSError, request_id: str) -> dict[str, Any]:
    """The response to every invocation of a worker that could not take its limits."""
    message = f"the emulator could not give this execution environment its limits: {error}"
    payload = error_payload(error, request_id, "Runtime.Unknown", message)
    return {"payload": payload, "errored": True, "logs": f"{message}\n"}


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        sys.exit(check())
    main()
