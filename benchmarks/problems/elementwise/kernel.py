"""SiLU as a one-dimensional streaming Triton kernel.

The tensor is treated as a flat array; each program owns BLOCK_SIZE = 4096 consecutive elements.
With 8 warps each thread holds 16 of them, contiguous in groups of four, so its loads and stores
are four 16-byte vector accesses. The block's start is computed in 64 bits (the tensor has more
than 2^31 bytes) and moved into the base pointers, so the per-element offsets stay 32-bit.
Loads and stores are marked evict-first: nothing is read twice, so nothing is worth keeping in L2.

sigmoid is evaluated as e / (1 + e) or 1 / (1 + e) with e = exp(-|x|) <= 1, one exponential per
element that never overflows, whatever the sign of x.
"""

import torch
import triton
import triton.language as tl
from torch import nn

BLOCK_SIZE = 4096


@triton.jit
def silu_kernel(x_ptr, y_ptr, n_elements, BLOCK_SIZE: tl.constexpr):
    block_start = tl.program_id(0).to(tl.int64) * BLOCK_SIZE
    offsets = tl.arange(0, BLOCK_SIZE)
    mask = offsets < n_elements - block_start

    x = tl.load(x_ptr + block_start + offsets, mask=mask, other=0.0,
                eviction_policy="evict_first").to(tl.float32)
    e = tl.exp(-tl.abs(x))
    sigmoid = tl.where(x >= 0, 1.0, e) / (1.0 + e)
    y = x * sigmoid
    tl.store(y_ptr + block_start + offsets, y.to(y_ptr.dtype.element_ty), mask=mask,
             eviction_policy="evict_first")


def silu(x: torch.Tensor) -> torch.Tensor:
    x = x.contiguous()
    y = torch.empty_like(x)
    n_elements = x.numel()
    if n_elements == 0:
        return y
    grid = (triton.cdiv(n_elements, BLOCK_SIZE),)
    silu_kernel[grid](x, y, n_elements, BLOCK_SIZE=BLOCK_SIZE, num_warps=8)
    return y


class ModelNew(nn.Module):
    def __init__(self) -> None:
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return silu(x)
