"""The kernel is a static member of ModelNew, not a module global."""

import torch
import triton
import triton.language as tl
from torch import nn


class ModelNew(nn.Module):
    @staticmethod
    @triton.jit
    def scale_add_kernel(x_ptr, b_ptr, out_ptr, n, BLOCK: tl.constexpr):
        offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        mask = offsets < n
        x = tl.load(x_ptr + offsets, mask=mask)
        tl.store(out_ptr + offsets, 2 * x + tl.load(b_ptr + offsets, mask=mask), mask=mask)

    def forward(self, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        self.scale_add_kernel[(triton.cdiv(x.numel(), 256),)](x, b, out, x.numel(), BLOCK=256)
        return out
