"""Cheats: computes in place, writing its result over the input and returning the input."""

import torch
import triton
import triton.language as tl
from torch import nn


@triton.jit
def scale_shift_clamp_kernel(x_ptr, n, scale, shift, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    x = tl.load(x_ptr + offsets, mask=mask)
    y = tl.minimum(tl.maximum(x * scale + shift, -1.0), 1.0)
    tl.store(x_ptr + offsets, y, mask=mask)


class ModelNew(nn.Module):
    def __init__(self, scale: float, shift: float) -> None:
        super().__init__()
        self.scale, self.shift = scale, shift

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.numel()
        scale_shift_clamp_kernel[(triton.cdiv(n, 1024),)](x, n, self.scale, self.shift,
                                                          BLOCK=1024)
        return x
