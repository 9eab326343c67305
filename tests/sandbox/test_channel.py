"""Frames between a judge and a candidate process: whole messages, descriptors alongside, and
nothing a hostile peer sends taken for a message."""

from __future__ import annotations

import os
import socket
import struct
import threading

import pytest

from kernel_agent.sandbox import channel


@pytest.fixture
def pair():
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    yield ours, theirs
    ours.close()
    theirs.close()


def test_a_message_and_its_descriptor_arrive_whole(pair):
    ours, theirs = pair
    read, write = os.pipe()
    big = {"text": "x" * (3 << 20), "n": [1, 2, 3]}  # more than one socket buffer
    sender = threading.Thread(target=channel.send, args=(ours, big, [write]))
    sender.start()
    message, fds = channel.receive(theirs)
    sender.join()
    assert message == big and len(fds) == 1
    os.write(fds[0], b"through the passed descriptor")
    assert os.read(read, 100) == b"through the passed descriptor"
    channel.close_all([read, write, *fds])


def test_a_closed_peer_between_messages_is_none(pair):
    ours, theirs = pair
    ours.close()
    assert channel.receive(theirs) is None


@pytest.mark.parametrize(("raw", "why"), [
    (struct.pack("!Q", 1 << 40), "over the"),
    (struct.pack("!Q", 100) + b'{"cut', "middle of a message"),
    (struct.pack("!Q", 9) + b"not json!", "not JSON"),
    (struct.pack("!Q", 9) + b"[1, 2, 3]", "not an object"),
    (b'{"value": {"status": "pass"}}', "over the"),  # an answer written without a frame
])
def test_what_is_not_a_message_is_refused(pair, raw, why):
    ours, theirs = pair
    ours.sendall(raw)
    ours.close()
    with pytest.raises(channel.ChannelError, match=why):
        channel.receive(theirs, limit=1 << 20)
