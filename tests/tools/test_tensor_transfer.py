"""Tensors through a socket: values, dtypes and layouts arrive as sent, in memory of the
receiver's own, whatever their size under the sandbox's file size limit; a description that does
not fit its bytes, or more bytes than expected, is refused, whoever sent it."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading

import pytest
import torch

from kernel_agent.tools.tensor_transfer import (
    TransferError,
    pack,
    receive_bytes,
    send_bytes,
    unpack,
)


def through_a_socket(data: torch.Tensor, announced: int | None = None,
                     limit: int = 1 << 30) -> torch.Tensor:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    sender = threading.Thread(target=lambda: (send_bytes(theirs, data), theirs.close()))
    sender.start()
    try:
        return receive_bytes(ours, data.numel() if announced is None else announced, limit)
    finally:
        sender.join()
        ours.close()


def round_trip(values):
    described, data = pack(values)
    return described, unpack(described, through_a_socket(data), "cpu")


def test_values_dtypes_and_layouts_arrive_as_sent():
    base = torch.randn(6, 4)
    values = [base.to(torch.bfloat16), torch.arange(5) > 2, torch.tensor(3.5),
              torch.empty(0, 3, dtype=torch.int64), base.t(), base.expand(2, 6, 4)[1],
              base[:, ::2], 7, 0.25, None, "mean"]
    _, out = round_trip(values)
    for sent, got in zip(values, out, strict=True):
        if isinstance(sent, torch.Tensor):
            assert got.dtype == sent.dtype and got.shape == sent.shape
            assert torch.equal(got, sent)
        else:
            assert got == sent
    assert out[4].stride() == base.t().stride()  # a transposed input stays transposed
    assert out[6].is_contiguous()  # a strided slice is not dense: it arrives contiguous


def test_what_arrives_is_a_copy_the_sender_cannot_change():
    described, data = pack([torch.ones(4)])
    got = unpack(described, through_a_socket(data), "cpu")[0]
    data.zero_()
    assert torch.equal(got, torch.ones(4))


def test_more_bytes_than_the_receiver_expects_are_refused_before_any_is_read():
    with pytest.raises(TransferError, match="at most 64"):
        through_a_socket(torch.zeros(128, dtype=torch.uint8), limit=64)
    for announced in (-1, "128", 2.5):
        with pytest.raises(TransferError):
            through_a_socket(torch.zeros(8, dtype=torch.uint8), announced=announced)


def test_a_sender_that_stops_short_is_said_so():
    with pytest.raises(TransferError, match="stopped after 8 of 100 bytes"):
        through_a_socket(torch.zeros(8, dtype=torch.uint8), announced=100)


SENDS_UNDER_A_FILE_LIMIT = """
import resource, socket, sys, threading
import torch
from kernel_agent.tools.tensor_transfer import pack, receive_bytes, send_bytes, unpack
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
values = [torch.arange(1 << 21, dtype=torch.float32)]  # 8 MiB, eight times the file limit
described, data = pack(values)
ours, theirs = socket.socketpair()
threading.Thread(target=send_bytes, args=(theirs, data)).start()
got = unpack(described, receive_bytes(ours, data.numel(), 1 << 30), "cpu")
assert torch.equal(got[0], values[0])
print("arrived")
"""


def test_tensors_larger_than_the_sandboxs_file_size_limit_arrive():
    done = subprocess.run([sys.executable, "-c", SENDS_UNDER_A_FILE_LIMIT], capture_output=True,
                          text=True, timeout=120)
    assert done.stdout.strip() == "arrived", done.stderr[-2000:]


def test_an_input_that_cannot_be_sent_is_said_so():
    with pytest.raises(TransferError, match="object"):
        pack([object()])


@pytest.mark.parametrize("change", [
    {"dtype": "load"}, {"dtype": "no_such_dtype"}, {"nbytes": 12}, {"offset": 64},
    {"shape": [-1, 4]}, {"shape": "four"},
])
def test_a_description_that_does_not_fit_its_bytes_is_refused(change):
    described, data = pack([torch.ones(2, 4)])
    described[0]["tensor"].update(change)
    with pytest.raises(TransferError):
        unpack(described, data, "cpu")


@pytest.mark.parametrize("described", ["not a list", [{"tensor": None}], [{"value": [1, 2]}],
                                       [{"something": 1}]])
def test_entries_that_describe_no_value_are_refused(described):
    _, data = pack([])
    with pytest.raises(TransferError):
        unpack(described, data, "cpu")
