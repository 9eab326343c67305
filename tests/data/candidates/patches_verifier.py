"""Hostile: returns a copy of its first input (wrong), and replaces the verifier's own
comparison (a function of the verifier's module, not torch's) with one that passes every
trial."""

import sys

import torch
import triton
import triton.language as tl
from torch import nn


@triton.jit
def copy_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    tl.store(out_ptr + offsets, tl.load(x_ptr + offsets, mask=mask), mask=mask)


def always_passes(candidate, reference, seed, atol, rtol):
    trial = ORIGINAL(candidate, reference, seed, atol, rtol)
    trial.passed, trial.mismatched, trial.nonfinite = True, 0, 0
    trial.max_abs_error = trial.max_rel_error = 0.0
    return trial


for name, module in list(sys.modules.items()):
    if name.endswith("tools.verify") and hasattr(module, "compare"):
        ORIGINAL = module.compare
        module.compare = always_passes


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        copy_kernel[(triton.cdiv(x.numel(), 256),)](x, out, x.numel(), BLOCK=256)
        return out
