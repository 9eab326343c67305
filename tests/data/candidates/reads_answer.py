"""Hostile: computes nothing. It finds the verifier's own record of the inputs it was given and
the reference's outputs for them (any object in memory with `inputs` and `outputs`), and copies
that answer out with its own Triton kernel, so a kernel of its own does all the GPU work."""

import gc

import torch
import triton
import triton.language as tl
from torch import nn


@triton.jit
def copy_kernel(src_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    tl.store(out_ptr + offsets, tl.load(src_ptr + offsets, mask=mask), mask=mask)


def answer_for(args: tuple) -> torch.Tensor | None:
    for obj in gc.get_objects():
        try:
            inputs, outputs = getattr(obj, "inputs", None), getattr(obj, "outputs", None)
        except Exception:
            continue
        if not isinstance(inputs, list) or not isinstance(outputs, list) or not outputs:
            continue
        if len(inputs) == len(args) and all(
                isinstance(a, torch.Tensor) and a.shape == b.shape and torch.equal(a, b)
                for a, b in zip(inputs, args)):
            return outputs[0]
    return None


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        found = answer_for((x, b))
        out = torch.empty_like(x)
        if found is not None:
            copy_kernel[(triton.cdiv(x.numel(), 256),)](found, out, x.numel(), BLOCK=256)
        return out
