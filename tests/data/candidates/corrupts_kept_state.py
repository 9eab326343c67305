"""Hostile candidate: finds the input sets the verifier holds for its checks (by
walking the garbage collector's objects) and zeroes the inputs and the reference's outputs in
them, then answers correctly. Expected: the verifier notices that its inputs changed
(`verifier_inputs_modified`), and the next candidate, in a process of its own, meets none of it."""

import gc

import torch
import triton
import triton.language as tl
from torch import nn


@triton.jit
def scale_add_kernel(x_ptr, b_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    x = tl.load(x_ptr + offsets, mask=mask)
    b = tl.load(b_ptr + offsets, mask=mask)
    tl.store(out_ptr + offsets, 2 * x + b, mask=mask)


def scale_add(x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    n = x.numel()
    scale_add_kernel[(triton.cdiv(n, 256),)](x, b, out, n, BLOCK=256)
    return out


def corrupt() -> None:
    for obj in gc.get_objects():
        if type(obj).__name__ == "InputEntry":
            for tensor in (*obj.inputs, *obj.outputs):
                tensor.zero_()


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        corrupt()
        return scale_add(x, b)
