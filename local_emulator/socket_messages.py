"""Messages on a Unix socket, each its length then its bytes, the first part carrying any file
descriptors: how the emulator's warm processes are handed their work (aws_cli_server.py,
lambda_fork_server.py). The AWS CLI's client writes the same framing with built-in modules only."""

import socket
import struct
from collections.abc import Iterable

HEADER = struct.Struct("!I")  # the length of the bytes that follow


def send_message(connection: socket.socket, body: bytes, fds: Iterable[int] = ()) -> None:
    data = HEADER.pack(len(body)) + body
    sent = socket.send_fds(connection, [data], list(fds))
    connection.sendall(data[sent:])  # the descriptors went with the first part


def receive_message(connection: socket.socket, max_fds: int, max_bytes: int) -> tuple[bytes | None, list[int]]:
    """A message's bytes and the descriptors sent with it. None instead of the bytes when the other
    end closed before the whole message, or announced none or more than MAX_BYTES."""
    received, fds, _, _ = socket.recv_fds(connection, HEADER.size, max_fds, socket.MSG_WAITALL)
    header = read_exactly(connection, received, HEADER.size)
    if header is None:
        return None, fds
    (length,) = HEADER.unpack(header)
    if not 0 < length <= max_bytes:
        return None, fds
    return read_exactly(connection, b"", length), fds


def read_exactly(connection: socket.socket, received: bytes, size: int) -> bytes | None:
    """RECEIVED and what follows it, SIZE bytes in all (with a timeout set, a message may come in
    parts); None if the other end closed first."""
    while len(received) < size:
        part = connection.recv(size - len(received))
        if not part:
            return None
        received += part
    return received
