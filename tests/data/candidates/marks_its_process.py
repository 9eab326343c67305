"""Leaves a mark in its process (an environment variable, which a forked process would
inherit) and refuses to load where it finds one: it passes only in a process no earlier
candidate ran in."""

import os

import torch
import triton
import triton.language as tl
from torch import nn

MARK = "KERNEL_AGENT_TEST_EARLIER_CANDIDATE"
if os.environ.get(MARK):
    raise RuntimeError("an earlier candidate ran in this process")
os.environ[MARK] = str(os.getpid())


@triton.jit
def scale_add_kernel(x_ptr, b_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    tl.store(out_ptr + offsets, 2 * tl.load(x_ptr + offsets, mask=mask)
             + tl.load(b_ptr + offsets, mask=mask), mask=mask)


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        scale_add_kernel[(triton.cdiv(x.numel(), 256),)](x, b, out, x.numel(), BLOCK=256)
        return out
