"""A moto server on 127.0.0.1 in this process, executing state machines, for code that must
talk to AWS over HTTP (the batch script's AWS CLI) rather than through an in-process mock."""

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from moto.core.config import default_user_config
from moto.server import ThreadedMotoServer

from local_emulator import engine_fixes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def moto_server() -> Iterator[str]:
    """Yields the endpoint URL. Service integrations of the engine call back to it via MOTO_PORT."""
    engine_fixes.apply_all()
    port = free_port()
    previous = os.environ.get("MOTO_PORT")
    os.environ["MOTO_PORT"] = str(port)
    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        default_user_config["stepfunctions"] = {"execute_state_machine": False}
        if previous is None:
            os.environ.pop("MOTO_PORT", None)
        else:
            os.environ["MOTO_PORT"] = previous
