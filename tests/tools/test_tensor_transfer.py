"""Tensors through a socket: values, dtypes and layouts arrive as sent, in memory of the
receiver's own, whatever their size (several staging chunks, the sandbox's file size limit); a
description that does not fit its bytes, or more bytes than expected, is refused before anything
is allocated, whoever sent it."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading

import pytest
import torch

from kernel_agent.tools import tensor_transfer
from kernel_agent.tools.tensor_transfer import TransferError, describe, receive, send


def through_a_socket(values, described=None, announced=None, limit=1 << 30, sent=None):
    """`values` sent by a thread as the candidate's process sends them, and what `receive`
    makes of them on the other end; the description and the count announced may be forged."""
    real, size = describe(values)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)

    def sender() -> None:
        with theirs, contextlib.suppress(OSError):  # a receiver that refuses closes its end
            if sent is not None:
                theirs.sendall(sent)
            else:
                send(theirs, values)

    thread = threading.Thread(target=sender)
    thread.start()
    try:
        return receive(ours, real if described is None else described,
                       size if announced is None else announced, limit, "cpu")
    finally:
        ours.close()
        thread.join()


def test_values_dtypes_and_layouts_arrive_as_sent():
    base = torch.randn(6, 4)
    values = [base.to(torch.bfloat16), torch.arange(5) > 2, torch.tensor(3.5),
              torch.empty(0, 3, dtype=torch.int64), base.t(), base.expand(2, 6, 4)[1],
              base[:, ::2], 7, 0.25, None, "mean", torch.arange(3, dtype=torch.uint8)]
    out = through_a_socket(values)
    for sent, got in zip(values, out, strict=True):
        if isinstance(sent, torch.Tensor):
            assert got.dtype == sent.dtype and got.shape == sent.shape
            assert torch.equal(got, sent)
        else:
            assert got == sent
    assert out[4].stride() == base.t().stride()  # a transposed input stays transposed
    assert out[6].is_contiguous()  # a strided slice is not dense: it arrives contiguous


def test_tensors_of_several_chunks_arrive_whole(monkeypatch):
    monkeypatch.setattr(tensor_transfer, "CHUNK", 1000)  # chunks that split elements
    monkeypatch.setattr(tensor_transfer, "STAGING", [])
    values = [torch.randn(3, 1001), torch.arange(7, dtype=torch.int16), torch.randn(50, 40).t()]
    out = through_a_socket(values)
    assert all(torch.equal(a, b) for a, b in zip(values, out, strict=True))
    assert out[2].stride() == values[2].stride()


def test_what_arrives_is_a_copy_the_sender_cannot_change():
    sent = torch.ones(4)
    got = through_a_socket([sent])[0]
    sent.zero_()
    assert torch.equal(got, torch.ones(4))


def test_more_bytes_than_the_receiver_expects_are_refused_before_any_is_read():
    with pytest.raises(TransferError, match="at most 64"):
        through_a_socket([torch.zeros(128, dtype=torch.uint8)], limit=64)
    for announced in (-1, "128", 2.5):
        with pytest.raises(TransferError):
            through_a_socket([torch.zeros(8, dtype=torch.uint8)], announced=announced)


def test_a_sender_that_stops_short_is_said_so():
    described, _ = describe([torch.zeros(100, dtype=torch.uint8)])
    with pytest.raises(TransferError, match="stopped after 8 of 128 bytes"):
        through_a_socket([], described=described, announced=128, sent=bytes(8))


SENDS_UNDER_A_FILE_LIMIT = """
import resource, socket, threading
import torch
from kernel_agent.tools.tensor_transfer import describe, receive, send
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
values = [torch.arange(1 << 21, dtype=torch.float32)]  # 8 MiB, eight times the file limit
described, size = describe(values)
ours, theirs = socket.socketpair()
threading.Thread(target=send, args=(theirs, values)).start()
got = receive(ours, described, size, 1 << 30, "cpu")
assert torch.equal(got[0], values[0])
print("arrived")
"""


def test_tensors_larger_than_the_sandboxs_file_size_limit_arrive():
    done = subprocess.run([sys.executable, "-c", SENDS_UNDER_A_FILE_LIMIT], capture_output=True,
                          text=True, timeout=120)
    assert done.stdout.strip() == "arrived", done.stderr[-2000:]


def test_a_value_that_cannot_be_sent_is_said_so():
    with pytest.raises(TransferError, match="object"):
        describe([object()])


@pytest.mark.parametrize("change", [
    {"dtype": "load"}, {"dtype": "no_such_dtype"}, {"nbytes": 12}, {"offset": 64},
    {"shape": [-1, 4]}, {"shape": "four"}, {"stride": [1, 1 << 40]}, {"stride": [4]},
])
def test_a_description_that_does_not_fit_its_bytes_is_refused(change):
    described, _ = describe([torch.ones(2, 4)])
    described[0]["tensor"].update(change)
    with pytest.raises(TransferError):
        through_a_socket([torch.ones(2, 4)], described=described)


def test_tensors_out_of_order_or_overlapping_are_refused():
    values = [torch.ones(16), torch.ones(16)]
    described, _ = describe(values)
    described[1]["tensor"]["offset"] = 32  # inside the first one's bytes
    with pytest.raises(TransferError, match="overlaps"):
        through_a_socket(values, described=described)


@pytest.mark.parametrize("described", ["not a list", [{"tensor": None}], [{"value": [1, 2]}],
                                       [{"something": 1}]])
def test_entries_that_describe_no_value_are_refused(described):
    with pytest.raises(TransferError):
        through_a_socket([], described=described)
