"""Lambda execution environments forked from one warm interpreter, instead of started cold.

A Lambda worker's cold start was mostly importing the libraries every function of a Python
application imports (boto3, Powertools, the X-Ray SDK, pydantic): about 0.6 s of its 0.8 s of CPU,
paid by each of the hundreds of workers a test run starts on a machine the whole emulator shares.
This server imports them once, in the environment every function of the emulator shares, and
records what those imports read of it; each worker is then a fork of it that takes its function's
environment and working directory and runs lambda_worker.main() as a cold worker would. A
function whose environment would give those imports different answers, or whose code folder holds
its own copy of one of them, gets a cold worker instead (lambda_runtime.py decides). Nothing in
the standard library or the emulator's dependencies forks warm interpreters with per-child
environments; hence this module.

Protocol, on the socket given as argv[1]: the server first sends {"read": [...]} (or {"error":
...}); then for each request ({"cwd", "env", "limits"} with the worker's stdin and response pipe
ends) it forks and answers {"pid"} with a pidfd of the worker, through which the runtime sees it
end and kills it. It exits when the socket closes: its emulator is gone.
"""

import gc
import importlib
import json
import os
import socket
import sys
import traceback
from typing import Any

from local_emulator import lambda_worker
from local_emulator.environment_reads import environment_reads
from local_emulator.socket_messages import receive_message, send_message

# Imported once here: the libraries of this application's functions (functions/runs/requirements.txt).
PRELOADED = (
    "boto3",
    "pydantic",
    "aws_lambda_powertools",
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.tracing",
    "aws_lambda_powertools.utilities.idempotency",
    "aws_lambda_powertools.utilities.parser",
    "aws_lambda_powertools.utilities.typing",
    "aws_xray_sdk.core",
)
# The services the functions' clients call: boto3's default session reads their models, endpoint
# rules and the SDK's own data files here, once, for every worker's boto3.client() (a worker's fresh
# session read them again: 0.3 s of CPU for three clients, 0.03 s with them read).
WARMED_SERVICES = ("s3", "dynamodb", "batch", "stepfunctions")
MAX_MESSAGE_BYTES = 1024 * 1024  # a worker's environment (Lambda allows 4 KB of variables)
RESPONSE_FD = 3  # the worker's response pipe, as argv[1] names it


def send(connection: socket.socket, message: dict[str, Any], fds: tuple[int, ...] = ()) -> None:
    send_message(connection, json.dumps(message).encode(), fds)


def receive(connection: socket.socket, max_fds: int = 0) -> tuple[dict[str, Any] | None, list[int]]:
    """A message and the descriptors sent with it; None once the other end has closed."""
    body, fds = receive_message(connection, max_fds, MAX_MESSAGE_BYTES)
    return (None if body is None else json.loads(body)), fds


def preload() -> set[str]:
    with environment_reads() as read:
        for name in PRELOADED:
            importlib.import_module(name)
        warm_default_session()
    gc.freeze()  # the imported objects: kept out of the workers' collections, their pages shared
    return read


def warm_default_session() -> None:
    """boto3's default session, with what making WARMED_SERVICES' clients reads: clients made and
    dropped, with credentials of their own, so that the session resolves none (a worker's come from
    its environment, when it makes its clients)."""
    import boto3

    boto3.setup_default_session()
    for service in WARMED_SERVICES:
        boto3.DEFAULT_SESSION.client(service, aws_access_key_id="preload", aws_secret_access_key="preload")  # noqa: S106


def become_worker(request: dict[str, Any], stdin: int, responses: int) -> None:
    """In the forked child: the process a cold worker would be, then lambda_worker.main()."""
    os.setsid()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd, target in ((stdin, 0), (devnull, 1), (devnull, 2), (responses, RESPONSE_FD)):
        os.dup2(fd, target)
    os.closerange(RESPONSE_FD + 1, os.sysconf("SC_OPEN_MAX"))  # this server's socket among them
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = [lambda_worker.__file__, str(RESPONSE_FD), json.dumps(request.get("limits") or {})]
    lambda_worker.main()


def serve(connection: socket.socket) -> None:
    try:
        read = preload()
    except Exception:  # every worker then starts cold; the emulator says why
        send(connection, {"error": traceback.format_exc()})
        return
    send(connection, {"read": sorted(read)})
    while True:
        request, fds = receive(connection, max_fds=2)
        if request is None:
            return
        stdin, responses = fds
        try:
            pid = os.fork()
        except OSError as error:  # no process left (EAGAIN): this worker fails to start, the server goes on
            send(connection, {"error": repr(error)})
        else:
            if pid == 0:
                status = 0
                try:
                    become_worker(request, stdin, responses)
                except BaseException:
                    traceback.print_exc()
                    status = 1
                finally:
                    os._exit(status)
            pidfd = os.pidfd_open(pid)  # the child, even if it has ended, is not reaped before reap()
            send(connection, {"pid": pid}, (pidfd,))
            os.close(pidfd)
        finally:
            os.close(stdin)
            os.close(responses)
        reap()


def reap() -> None:
    """Wait for the workers that have ended (their runtime learnt it through their pidfd)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


if __name__ == "__main__":
    serve(socket.socket(fileno=int(sys.argv[1])))
