"""RMSNorm as a one-row-per-program Triton kernel.

A row of 4096 bfloat16 values is 8 KiB, small enough to live in registers: each program loads its
whole row once (BLOCK_SIZE is the row length rounded up to a power of two, the tail masked),
reduces the sum of squares in float32, scales, multiplies by the weight and stores. Every byte of
x is read exactly once and every byte of y written once, which is the bound for this problem.
With 8 warps each thread holds 16 elements of a 4096-wide row (two 16-byte loads), and the
weight, shared by all rows, stays in L2.
"""

import torch
import triton
import triton.language as tl
from torch import nn


@triton.jit
def rmsnorm_kernel(
    x_ptr, weight_ptr, y_ptr, x_row_stride, y_row_stride, n_cols, eps,
    BLOCK_SIZE: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK_SIZE)
    mask = cols < n_cols

    x = tl.load(x_ptr + row * x_row_stride + cols, mask=mask, other=0.0).to(tl.float32)
    mean_sq = tl.sum(x * x, axis=0) / n_cols
    inv_rms = tl.math.rsqrt(mean_sq + eps)

    weight = tl.load(weight_ptr + cols, mask=mask, other=0.0).to(tl.float32)
    y = x * inv_rms * weight
    tl.store(y_ptr + row * y_row_stride + cols, y.to(y_ptr.dtype.element_ty), mask=mask)


def rmsnorm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    n_cols = x.shape[-1]
    assert weight.shape == (n_cols,), "weight must have shape (hidden,)"
    x2d = x.reshape(-1, n_cols)
    if x2d.stride(-1) != 1:
        x2d = x2d.contiguous()
    y = torch.empty(x2d.shape, dtype=x.dtype, device=x.device)

    block_size = triton.next_power_of_2(n_cols)
    if block_size * x.element_size() > 64 * 1024:
        raise ValueError(f"hidden size {n_cols} is too large for one row per program")
    num_warps = min(max(block_size // 512, 1), 16)

    rmsnorm_kernel[(x2d.shape[0],)](
        x2d, weight, y, x2d.stride(0), y.stride(0), n_cols, eps,
        BLOCK_SIZE=block_size, num_warps=num_warps,
    )
    return y.view(x.shape)


class ModelNew(nn.Module):
    def __init__(self, hidden_size: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rmsnorm(x, self.weight, self.eps)
