"""The AWS CLI of local jobs, imported once: each `aws` call runs in a fork of one warm interpreter.

On AWS every `aws` call of a job is a new process of its container's CLI. Locally all jobs share
the machine's CPUs, and that start-up (importing botocore and awscli, making the CLI's driver and
its command table: most of a call's 0.65 s of CPU) was about half the CPU of an emulated run. This
server imports the CLI and makes one driver once (a call whose environment would make a different
driver gets a new one), and after a service's first call it makes that service's commands and
loads its models, once, for the next calls (in each child that loading took 0.10 s of its 0.16 s
of CPU); the `aws` first on a job's PATH (`aws_cli_client.py`) hands it the call's
arguments, environment, working directory, umask, priority, process group and standard streams;
the server forks, and the child runs the CLI's own `aws` program with them, in the job's process
group (TerminateJob's signals reach it), so that the job sees the same output and exit status as
from a process of its own. No library forks a warm AWS CLI; hence this module.

The interpreter's start-up settings (locale, UTF-8 mode) are the server's, started with the
environment jobs get (LANG=C.UTF-8, no PYTHON* variables): the same as a job's own `aws` would have.
"""

import contextlib
import gc
import importlib
import marshal
import os
import runpy
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local_emulator.environment_reads import environment_reads, same_answers
from local_emulator.socket_messages import receive_message

CLIENT = Path(__file__).with_name("aws_cli_client.py")
# What a job's interpreter starts with, for the server's start: the locale a job gets, nothing else.
JOB_INTERPRETER_ENVIRONMENT = {"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
MAX_MESSAGE_BYTES = 1024 * 1024  # a call's arguments and environment (a job's are a few KB)
RECEIVE_SECONDS = 10  # the client sends its call as soon as it connects
# What receiving from a caller that died, timed out or is not the client raises.
NOT_A_CALL = (OSError, ValueError, EOFError, TypeError)


def real_aws_program() -> Path:
    """The AWS CLI's own `aws` script, installed beside this interpreter."""
    program = shutil.which("aws", path=str(Path(sys.executable).parent))
    if program is None:
        raise RuntimeError(f"the AWS CLI is not installed beside {sys.executable}: run `make setup`")
    return Path(program)


@dataclass
class WarmDriver:
    """A CLI driver made before any call (session, plugins, command table), and what making it read
    of the environment: a call whose environment gives the same answers can run on it."""

    driver: Any
    read: set[str]  # the variables read while it was made
    recorded: dict[str, str]  # the environment it was made in
    warmed: set[str] = field(default_factory=set)

    def fits(self, env: dict[str, str]) -> bool:
        # HOME differs per job; what the driver read under it is ~/.aws (config files): absent for both.
        same = same_answers(self.read - {"HOME"}, self.recorded, env)
        return same and not (Path(env.get("HOME", "/")) / ".aws").exists()

    def command_of(self, args: list[str]) -> str:
        """The CLI command a call's arguments name (its service, most often), or ""."""
        commands = self.driver._get_command_table()
        return next((arg for arg in args if arg in commands), "")

    def learn(self, name: str) -> None:
        """After a call of a service, make that service's commands and load its models here, once, so
        that the next calls' children find them made (loading them was most of a child's CPU)."""
        from awscli.clidriver import ServiceCommand
        from botocore.exceptions import DataNotFoundError

        commands = self.driver._get_command_table()
        if name in self.warmed or not isinstance(commands.get(name), ServiceCommand):
            return
        self.warmed.add(name)
        loader = self.driver.session.get_component("data_loader")
        with environment_reads() as read:
            commands[name]._get_command_table()  # its operations, from its service model
            for type_name in ("paginators-1", "waiters-2", "endpoint-rule-set-1"):  # what a client loads
                with contextlib.suppress(DataNotFoundError):  # a service without waiters, say
                    loader.load_service_model(commands[name].service_model.service_name, type_name)
        self.read |= read
        gc.freeze()


def warm_up() -> WarmDriver:
    """Import what a call imports and make one driver, once; record the variables that making it read."""
    import awscli.clidriver

    with environment_reads() as read:
        driver = awscli.clidriver.create_clidriver()
        driver._create_parser(driver._get_command_table())
        for component in ("endpoint_resolver", "default_config_resolver"):  # what every client loads
            driver.session._get_internal_component(component)
    if (Path(os.environ["HOME"]) / ".aws").exists():
        raise RuntimeError("the warm AWS CLI's HOME must have no .aws folder")
    gc.freeze()  # the imported objects: kept out of the children's collections, their pages shared
    return WarmDriver(driver, read, dict(os.environ))


def receive_call(connection: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """A call's arguments, environment and settings, and its three standard streams."""
    # A receive timeout, not settimeout(): that would make the socket, shared with the server, non-blocking.
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", RECEIVE_SECONDS, 0))
    message, fds = receive_message(connection, 3, MAX_MESSAGE_BYTES)
    try:
        if message is None or len(fds) != 3:
            whole = "no" if message is None else "a"
            raise ValueError(f"not a call: {whole} whole message of 1 to {MAX_MESSAGE_BYTES} bytes, {len(fds)} streams")
        # marshal, not json: the client imports nothing it must not (see aws_cli_client.py). Only this
        # user can connect (the socket is 0600, in a 0700 folder), and that user runs the jobs anyway.
        call = marshal.loads(message)  # noqa: S302 (see above)
        if not isinstance(call, dict):
            raise ValueError(f"not a call: {type(call).__name__}")
        return call, fds
    except NOT_A_CALL:
        for fd in fds:
            os.close(fd)
        raise


def run_call(connection: socket.socket, report: int, others: list[int], warm: WarmDriver, program: Path) -> None:
    """In the forked child: receive the call, tell the server its command (`report`), become the
    call's process, run the CLI, and exit with its status."""
    signal.set_wakeup_fd(-1)  # before the server's descriptors are closed: their numbers get reused
    # 0, 1 and 2 stay open until the call's own streams replace them, so that those get other numbers.
    for signum in (signal.SIGCHLD, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)
    for fd in others:
        os.close(fd)
    try:
        call, fds = receive_call(connection)
    except NOT_A_CALL as error:
        print(f"a call could not be received: {error!r}", file=sys.stderr, flush=True)
        os._exit(255)
    connection.close()
    os.write(report, warm.command_of(call["args"]).encode()[:512])  # at most a pipe's atomic write
    os.close(report)
    os.setpgid(0, call["pgid"])
    with_priority(call["priority"])
    os.umask(call["umask"])
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(call["cwd"])
    os.environ.clear()
    os.environ.update(call["env"])
    sys.argv = [call["argv0"], *call["args"]]
    sys.path[0] = str(program.parent)  # as for a script started on its own
    import awscli

    importlib.reload(awscli)  # its import reads AWS_DATA_PATH from the call's environment
    if warm.fits(dict(os.environ)):
        # The CLI's main() makes its driver with create_clidriver(); this process's is made already,
        # from the same environment. (Changed in this forked child only, which ends with the call.)
        awscli.clidriver.create_clidriver = lambda: warm.driver
    status = 0
    try:
        runpy.run_path(str(program), run_name="__main__")
    except SystemExit as done:
        status = exit_status(done.code)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(status)


def exit_status(code: object) -> int:
    """The status sys.exit(code) gives a process: an int as is, None 0, anything else printed and 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def with_priority(priority: int) -> None:
    with contextlib.suppress(PermissionError):  # only a lower niceness than the server's needs privileges
        os.setpriority(os.PRIO_PROCESS, 0, priority)


def serve(socket_path: str) -> None:
    warm, program = warm_up(), real_aws_program()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(socket_path)
    os.chmod(socket_path, 0o600)
    listener.listen(128)
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes select(), through the wake-up pipe
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    calls: dict[int, socket.socket] = {}  # child pid -> its caller's connection
    reports: list[int] = []  # pipes on which children name their call's command
    print("ready", flush=True)
    parent = sys.stdin.fileno()  # a pipe from the emulator: it reads end of file once the emulator is gone
    while True:
        readable, _, _ = select.select([listener, wake_read, parent, *reports], [], [])
        if parent in readable and not os.read(parent, 4096):  # the emulator died (killed, say) without stop()
            shutil.rmtree(Path(socket_path).parent, ignore_errors=True)
            sys.exit(0)
        if wake_read in readable:
            os.read(wake_read, 4096)
        for report in set(reports) & set(readable):
            command = os.read(report, 512).decode(errors="replace")  # "" when the child ended without one
            reports.remove(report)
            os.close(report)
            try:
                warm.learn(command)
            except Exception:  # only later calls' speed is at stake: the server goes on
                traceback.print_exc()
        if listener in readable:
            start_call(listener.accept()[0], calls, reports, [listener.fileno(), wake_read, wake_write], warm, program)
        reap(calls)


def start_call(
    connection: socket.socket,
    calls: dict[int, socket.socket],
    reports: list[int],
    server_fds: list[int],
    warm: WarmDriver,
    program: Path,
) -> None:
    """Fork the call's child; the caller's connection waits in CALLS for its answer."""
    report_read, report_write = os.pipe()
    others = [*server_fds, report_read, *reports, *(c.fileno() for c in calls.values())]
    try:
        pid = os.fork()
    except OSError as error:  # no process left (EAGAIN): this call fails, the server goes on
        print(f"a call could not be started: {error!r}", file=sys.stderr, flush=True)
        for fd in (report_read, report_write):
            os.close(fd)
        connection.close()
        return
    if pid == 0:
        try:
            run_call(connection, report_write, others, warm, program)
        except BaseException:
            traceback.print_exc()  # on the call's standard error, once it has it
        finally:
            os._exit(255)  # the AWS CLI's status for an error of its own
    os.close(report_write)
    reports.append(report_read)
    calls[pid] = connection


def reap(calls: dict[int, socket.socket]) -> None:
    """Tell each caller whose child ended how it ended: its exit status, or the signal that killed it."""
    while calls:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        connection = calls.pop(pid, None)
        if connection is None:
            continue
        if os.WIFSIGNALED(status):
            answer = {"signal": os.WTERMSIG(status)}
        else:
            answer = {"status": os.waitstatus_to_exitcode(status)}
        with contextlib.suppress(OSError):  # the caller is gone (killed with its job)
            connection.sendall(marshal.dumps(answer))
        connection.close()


class WarmAwsCli:
    """Starts the server for an emulator's jobs; `bin` is the folder to put first on their PATH."""

    def __init__(self) -> None:
        self.directory: Path | None = None
        self.process: subprocess.Popen[str] | None = None

    @property
    def bin(self) -> Path:
        assert self.directory is not None, "the warm AWS CLI is not started"
        return self.directory / "bin"

    def start(self) -> "WarmAwsCli":
        # Its own short folder: a Unix socket's path has at most 107 bytes.
        self.directory = Path(tempfile.mkdtemp(prefix="aws-cli-"))
        socket_path = self.directory / "socket"
        errors = (self.directory / "server.log").open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-m", __spec__.name, str(socket_path)],
            env={**JOB_INTERPRETER_ENVIRONMENT, "HOME": str(self.directory)},
            stdin=subprocess.PIPE,  # kept open until this process ends: then the server ends too
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        errors.close()
        if self.process.stdout.readline().strip() != "ready":
            self.stop()
            raise RuntimeError(f"the warm AWS CLI did not start: {(self.directory / 'server.log').read_text()}")
        self.bin.mkdir()
        program = self.bin / "aws"
        program.write_text(  # runs the client as its __main__, with these settings (runpy: 3 ms more)
            f"#!{sys.executable} -IS\n"
            "import sys\n"
            f"SOCKET_PATH, PROGRAM = {str(socket_path)!r}, sys.argv[0]\n"
            f"SERVER_SESSION, REAL_AWS = {os.getsid(self.process.pid)}, {str(real_aws_program())!r}\n"
            f"exec(compile(open({str(CLIENT)!r}, 'rb').read(), {str(CLIENT)!r}, 'exec'))\n"
        )
        program.chmod(0o755)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process.stdin.close()
            self.process.stdout.close()
            self.process = None
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None


if __name__ == "__main__":
    serve(sys.argv[1])
