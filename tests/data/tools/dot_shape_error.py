"""A type error: tl.dot on tiles whose inner dimensions differ."""

import torch
import triton
import triton.language as tl
from torch import nn


@triton.jit
def matmul_kernel(a_ptr, b_ptr, c_ptr, M, N, K, BLOCK: tl.constexpr):
    rows = tl.arange(0, BLOCK)
    cols = tl.arange(0, BLOCK // 2)
    a = tl.load(a_ptr + rows[:, None] * K + cols[None, :])
    b = tl.load(b_ptr + rows[:, None] * N + cols[None, :])
    c = tl.dot(a, b)
    tl.store(c_ptr + rows[:, None] * N + cols[None, :], c)


class ModelNew(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        m, k = a.shape
        n = b.shape[1]
        c = torch.empty((m, n), dtype=a.dtype, device=a.device)
        matmul_kernel[(1,)](a, b, c, m, n, k, BLOCK=32)
        return c
