"""y = 2 * x + b with a deliberately poor launch: 16 elements per program on one warp."""

import torch
import triton
import triton.language as tl
from torch import nn

BLOCK = 16


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
    scale_add_kernel[(triton.cdiv(n, BLOCK),)](x, b, out, n, BLOCK=BLOCK, num_warps=1)
    return out


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return scale_add(x, b)
