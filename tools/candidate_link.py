"""The asking side of a candidate process's protocol (tools/candidate_process.py): one request,
one reply, read alike by every task that asks one (the judge, the race, the re-timing), so a
process that ends, sends what cannot be read or reports an error is named the same way in every
verdict."""

from __future__ import annotations

import socket
from typing import Any

from kernel_agent.sandbox import channel

ERROR_CHARS = 1500
# A reply that describes outputs (the audit's) or carries values for them (the race's) may take
# this much, plus PER_OUTPUT_BYTES for each output it speaks for: a problem of thousands of
# outputs is answered in full, and a flood from a hostile process is still cut off.
REPLY_BYTES = 1 << 20
PER_OUTPUT_BYTES = 1 << 10


class NoReply(Exception):
    """The candidate process gave no reply that can be read; `ended`: it closed its end."""

    def __init__(self, why: str, ended: bool = False) -> None:
        super().__init__(why)
        self.ended = ended


def outputs_reply_limit(outputs: int) -> int:
    """The most a reply speaking for `outputs` outputs may take."""
    return REPLY_BYTES + PER_OUTPUT_BYTES * max(0, outputs)


def ask(link: socket.socket, request: dict[str, Any] | None, limit: int,
        fds: list[int] | None = None) -> dict[str, Any]:
    """The reply to `request` (None: to a request already sent), at most `limit` bytes; `fds`
    go with the request."""
    try:
        if request is not None:
            channel.send(link, request, fds)
        got = channel.receive(link, limit=limit)
    except (OSError, channel.ChannelError) as exc:
        raise NoReply(f"its answer could not be read ({exc})") from None
    if got is None:
        raise NoReply("its process ended before it answered", ended=True)
    message, fds = got
    channel.close_all(fds)
    return message


def error_in(message: dict[str, Any]) -> tuple[str, str] | None:
    """(kind, message) of an error reply, the message cut to its last ERROR_CHARS; None for a
    reply that is no error."""
    if "error" not in message:
        return None
    error = message["error"] if isinstance(message["error"], dict) else {}
    return str(error.get("kind", "error")), str(error.get("message", ""))[-ERROR_CHARS:]
