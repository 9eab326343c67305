"""On a GPU host: device tensors go between two processes through the socket as the judge and a
candidate process send them, through page-locked staging buffers, over several chunks, with
their values, dtypes and layouts kept, and arrive in device memory of the receiver's own."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
import torch

from kernel_agent.sandbox import channel
from kernel_agent.tools import tensor_transfer

pytestmark = pytest.mark.gpu

SENDER = """
import socket, sys
import torch
from kernel_agent.sandbox import channel
from kernel_agent.tools import tensor_transfer
tensor_transfer.CHUNK = 1 << 20  # several chunks, each split mid-element
link = socket.socket(fileno=int(sys.argv[1]))
torch.manual_seed(7)
base = torch.randn(1000, 700, device="cuda")
values = [base, base.t(), base.to(torch.bfloat16)[:, :3], torch.arange(5, device="cuda") > 2,
          torch.tensor(2.5, device="cuda"), 11, "mean"]
described, size = tensor_transfer.describe(values)
channel.send(link, {"outputs": described, "bytes": size})
tensor_transfer.send(link, values)
link.close()
"""


def test_device_tensors_arrive_in_device_memory_as_sent(monkeypatch):
    monkeypatch.setattr(tensor_transfer, "CHUNK", 3 << 19)  # not the sender's chunk size
    monkeypatch.setattr(tensor_transfer, "STAGING", [])
    ours, theirs = socket.socketpair()
    sender = subprocess.Popen([sys.executable, "-c", SENDER, str(theirs.fileno())],
                              pass_fds=[theirs.fileno()], stderr=subprocess.PIPE, text=True)
    theirs.close()
    got = channel.receive(ours)
    assert got is not None, sender.communicate(timeout=60)[1]
    message, _ = got
    values = tensor_transfer.receive(ours, message["outputs"], message["bytes"], 1 << 30,
                                     "cuda")
    assert sender.wait(timeout=60) == 0, sender.stderr.read()
    torch.manual_seed(7)
    base = torch.randn(1000, 700, device="cuda")
    expected = [base, base.t(), base.to(torch.bfloat16)[:, :3],
                torch.arange(5, device="cuda") > 2, torch.tensor(2.5, device="cuda")]
    for want, have in zip(expected, values, strict=False):
        assert have.is_cuda and have.dtype == want.dtype and have.shape == want.shape
        assert torch.equal(have, want)
    assert values[1].stride() == base.t().stride()  # a transposed tensor stays transposed
    assert values[5:] == [11, "mean"]
    assert all(buffer.is_pinned() for buffer in tensor_transfer.STAGING)
