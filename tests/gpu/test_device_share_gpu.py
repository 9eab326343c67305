"""On a GPU host: a candidate's process hands its device outputs over in place (CUDA IPC), and
the judge reads them from its own process; spans past an allocation, forged handles and more
bytes than expected are refused before anything is read, and the judge's CUDA context is whole
afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from kernel_agent.tools import device_share

pytestmark = pytest.mark.gpu

# Two outputs inside one allocation (as the caching allocator places small tensors), a scalar
# between them, and a transposed one: exported, then kept alive until stdin closes.
EXPORTER = r"""
import json, sys, torch
from kernel_agent.tools import device_share
block = torch.arange(3 << 20, dtype=torch.float32, device="cuda")
first = block[: 1 << 20]
second = block[1 << 20 : (1 << 20) + 4096].view(torch.bfloat16)
third = torch.arange(12, dtype=torch.int64, device="cuda").reshape(3, 4).t()
torch.cuda.synchronize()
print(json.dumps(device_share.export([first, 7, second, third])), flush=True)
sys.stdin.read()
"""


@pytest.fixture
def exported():
    process = subprocess.Popen([sys.executable, "-c", EXPORTER], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        yield json.loads(process.stdout.readline())
    finally:
        process.stdin.close()
        process.wait(timeout=60)


def expected_values() -> list:
    block = torch.arange(3 << 20, dtype=torch.float32, device="cuda")
    return [block[: 1 << 20], 7, block[1 << 20: (1 << 20) + 4096].view(torch.bfloat16),
            torch.arange(12, dtype=torch.int64, device="cuda").reshape(3, 4).t()]


def test_outputs_of_another_process_are_read_in_place(exported):
    handles = [e["tensor"]["handle"] for e in exported if "tensor" in e]
    assert handles[0] == handles[1] != handles[2]  # two outputs of one allocation
    with device_share.opened(exported, torch.device("cuda"), 1 << 30) as values:
        assert values[1] == 7
        for got, want in zip(values, expected_values(), strict=True):
            if isinstance(want, torch.Tensor):
                assert got.is_cuda and got.dtype == want.dtype and got.shape == want.shape
                assert got.stride() == want.stride() and same_bits(got, want)


def same_bits(got: torch.Tensor, want: torch.Tensor) -> bool:
    """Equal bit for bit: float32 counts seen as bfloat16 include NaNs, which equal nothing."""
    return torch.equal(got.contiguous().view(torch.uint8), want.contiguous().view(torch.uint8))


@pytest.mark.parametrize("forgery", ["past_the_end", "forged_handle", "too_many_bytes"])
def test_a_forged_hand_over_is_refused_and_the_judge_stays_whole(exported, forgery):
    spec = exported[-1]["tensor"]
    limit = 1 << 30
    if forgery == "past_the_end":
        spec["at"] += 1 << 40
    elif forgery == "forged_handle":
        spec["handle"] = "ab" * device_share.HANDLE_BYTES
    else:
        limit = 1 << 20
    with pytest.raises(device_share.ShareError), device_share.opened(
            exported, torch.device("cuda"), limit):
        pass
    probe = torch.ones(1 << 20, device="cuda")
    assert float(probe.sum()) == float(1 << 20)  # no sticky error in this context


SEGMENTS_EXPORTER = r"""
import json, sys, torch
from kernel_agent.tools import device_share
out = torch.arange(1 << 20, dtype=torch.float32, device="cuda")
torch.cuda.synchronize()
try:
    print(json.dumps({"shared": device_share.export([out])}), flush=True)
except device_share.ShareError as exc:
    print(json.dumps({"refused": str(exc)}), flush=True)
sys.stdin.read()
"""


def test_memory_of_expandable_segments_is_read_right_or_refused():
    """A candidate's process may set its own allocator: memory mapped through the driver's
    virtual memory calls is either handed over and read right, or refused (then sent as bytes),
    and never read wrong."""
    env = {**os.environ, "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}
    process = subprocess.Popen([sys.executable, "-c", SEGMENTS_EXPORTER], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, env=env)
    try:
        reply = json.loads(process.stdout.readline())
        if "shared" in reply:
            try:
                with device_share.opened(reply["shared"], torch.device("cuda"), 1 << 30) as got:
                    want = torch.arange(1 << 20, dtype=torch.float32, device="cuda")
                    assert torch.equal(got[0], want)
            except device_share.ShareError:
                pass
    finally:
        process.stdin.close()
        process.wait(timeout=60)
    assert float(torch.ones(8, device="cuda").sum()) == 8.0
