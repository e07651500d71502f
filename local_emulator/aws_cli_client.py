"""`aws` on a local job's PATH: hands the call to the warm AWS CLI (aws_cli_server.py) and ends as it ends.

The `aws` the emulator writes runs this file with `python -I -S` and gives it SOCKET_PATH, PROGRAM
(its own path, the call's argv[0]), SERVER_SESSION and REAL_AWS (the CLI's own program). This is the
part of each call that is not shared, so it imports only modules built into the interpreter
(`_socket`, `_signal`, `_struct`, `marshal`): `socket`, `signal` and `json` would triple its start-up.
"""

import _signal
import _socket
import _struct
import marshal
import os
import sys


def main(socket_path: str, argv0: str, args: list[str], server_session: int, real_aws: str) -> None:
    if os.getsid(0) != server_session:
        # A call joins its caller's process group, which only a process of the same session may
        # (setpgid(2)): a caller that started a session of its own gets the CLI's own process.
        os.execv(real_aws, [argv0, *args])  # noqa: S606 (the same program, arguments and environment)
    umask = os.umask(0)
    os.umask(umask)
    call = {
        "argv0": argv0,
        "args": args,
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "umask": umask,
        "pgid": os.getpgid(0),
        "priority": os.getpriority(os.PRIO_PROCESS, 0),
    }
    message = marshal.dumps(call)
    server = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        server.connect(socket_path)
        streams = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, _struct.pack("3i", 0, 1, 2))]
        server.sendmsg([_struct.pack("!I", len(message))], streams)
        server.sendall(message)
    except OSError as error:
        sys.exit(f"aws (local emulator): the emulator's AWS CLI is not reachable at {socket_path}: {error}")
    answer = b""
    while chunk := server.recv(4096):
        answer += chunk
    server.close()
    if not answer:
        sys.exit("aws (local emulator): the emulator's AWS CLI stopped during the call")
    outcome = marshal.loads(answer)  # noqa: S302 (the server's answer, on a socket only this user reaches)
    if "signal" in outcome:  # killed: end the same way, as the shell that waits for us expects
        if outcome["signal"] not in (_signal.SIGKILL, _signal.SIGSTOP):  # the only ones without a handler
            _signal.signal(outcome["signal"], _signal.SIG_DFL)
        os.kill(os.getpid(), outcome["signal"])
        sys.exit(128 + outcome["signal"])  # a signal this process ignores: the status a shell would show
    sys.exit(outcome["status"])


if __name__ == "__main__":
    settings = globals()
    main(settings["SOCKET_PATH"], settings["PROGRAM"], sys.argv[1:], settings["SERVER_SESSION"], settings["REAL_AWS"])
