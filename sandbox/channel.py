"""Messages between two processes of one task: JSON frames, with file descriptors alongside.

A frame is an 8-byte length and that many bytes of JSON, over a UNIX stream socket; descriptors
(a log's, say) travel with the frame's first bytes. The reader trusts nothing it
receives: a frame over `limit` bytes, a cut-off frame or text that is not a JSON object is a
ChannelError, so a hostile peer can make a message fail but never make the reader allocate what
it likes or take a half-message for a whole one.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
from typing import Any

HEADER = struct.Struct("!Q")
MAX_FDS = 8
DEFAULT_LIMIT = 64 << 20


class ChannelError(Exception):
    """The peer sent something that is not a message (or went away in the middle of one)."""


def send(link: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    """Send one frame; `fds` are duplicated into the peer and stay open here."""
    body = json.dumps(message).encode()
    data = HEADER.pack(len(body)) + body
    sent = socket.send_fds(link, [data], fds) if fds else link.send(data)
    if sent < len(data):
        link.sendall(data[sent:])


def receive(link: socket.socket,
            limit: int = DEFAULT_LIMIT) -> tuple[dict[str, Any], list[int]] | None:
    """The next frame and the descriptors sent with it; None once the peer has closed its end
    between frames."""
    head, fds = read_exactly(link, HEADER.size, with_fds=True)
    if head is None:
        close_all(fds)
        return None
    (size,) = HEADER.unpack(head)
    if size > limit:
        close_all(fds)
        raise ChannelError(f"a message of {size} bytes, over the {limit}-byte limit")
    body, _ = read_exactly(link, size, with_fds=False)
    if body is None:
        close_all(fds)
        raise ChannelError("the peer closed the channel in the middle of a message")
    try:
        message = json.loads(body)
    except (ValueError, RecursionError) as exc:  # nested deeper than the decoder goes
        close_all(fds)
        raise ChannelError(f"a message that is not JSON ({exc})") from None
    if not isinstance(message, dict):
        close_all(fds)
        raise ChannelError(f"a message that is a JSON {type(message).__name__}, not an object")
    return message, fds


def read_exactly(link: socket.socket, size: int,
                 with_fds: bool) -> tuple[bytes | None, list[int]]:
    """`size` bytes (None if the peer closed before the first), and the descriptors that came
    with the first read."""
    chunks: list[bytes] = []
    got = 0
    fds: list[int] = []
    while got < size:
        if with_fds and not chunks:
            data, fds, _, _ = socket.recv_fds(link, size, MAX_FDS)
        else:
            data = link.recv(min(size - got, 1 << 20))
        if not data:
            if got:
                close_all(fds)
                raise ChannelError("the peer closed the channel in the middle of a message")
            return None, fds
        chunks.append(data)
        got += len(data)
    return b"".join(chunks), fds


def close_all(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
