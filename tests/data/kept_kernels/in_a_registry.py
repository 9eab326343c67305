"""The kernel is made by a builder function and kept in a registry dict."""

import torch
import triton
import triton.language as tl
from torch import nn


def build():
    @triton.jit
    def scale_add_kernel(x_ptr, b_ptr, out_ptr, n, BLOCK: tl.constexpr):
        offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        mask = offsets < n
        x = tl.load(x_ptr + offsets, mask=mask)
        tl.store(out_ptr + offsets, 2 * x + tl.load(b_ptr + offsets, mask=mask), mask=mask)

    return scale_add_kernel


REGISTRY = {"scale_add": build()}


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        REGISTRY["scale_add"][(triton.cdiv(x.numel(), 256),)](x, b, out, x.numel(), BLOCK=256)
        return out
