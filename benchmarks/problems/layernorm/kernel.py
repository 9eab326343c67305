"""LayerNorm as a one-row-per-program Triton kernel.

A row of 8192 float32 values is 32 KiB: with 16 warps each thread holds 16 of them in registers
(four 16-byte loads). Each program loads its whole row once (BLOCK_SIZE is the row length rounded
up to a power of two, the tail masked), computes the mean, then the variance from the centred
values (two reductions over registers, more accurate than E[x^2] - E[x]^2), scales, applies the
weight and bias and stores. x is read once and y written once, which is the bound for this
problem; weight and bias are shared by all rows and stay in L2.
"""

import torch
import triton
import triton.language as tl
from torch import nn

MAX_ROW_BYTES = 64 * 1024


@triton.jit
def layernorm_kernel(
    x_ptr, weight_ptr, bias_ptr, y_ptr, x_row_stride, y_row_stride, n_cols, eps,
    BLOCK_SIZE: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK_SIZE)
    mask = cols < n_cols

    x = tl.load(x_ptr + row * x_row_stride + cols, mask=mask, other=0.0).to(tl.float32)
    mean = tl.sum(x, axis=0) / n_cols
    centred = tl.where(mask, x - mean, 0.0)
    var = tl.sum(centred * centred, axis=0) / n_cols
    rstd = tl.math.rsqrt(var + eps)

    weight = tl.load(weight_ptr + cols, mask=mask, other=0.0).to(tl.float32)
    bias = tl.load(bias_ptr + cols, mask=mask, other=0.0).to(tl.float32)
    y = centred * rstd * weight + bias
    tl.store(y_ptr + row * y_row_stride + cols, y.to(y_ptr.dtype.element_ty), mask=mask)


def layernorm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
              eps: float) -> torch.Tensor:
    n_cols = x.shape[-1]
    assert weight.shape == (n_cols,) and bias.shape == (n_cols,), "weight and bias must be (N,)"
    x2d = x.reshape(-1, n_cols)
    if x2d.stride(-1) != 1:
        x2d = x2d.contiguous()
    y = torch.empty(x2d.shape, dtype=x.dtype, device=x.device)
    if x2d.shape[0] == 0:
        return y.view(x.shape)

    block_size = triton.next_power_of_2(n_cols)
    if block_size * x.element_size() > MAX_ROW_BYTES:
        raise ValueError(f"normalized size {n_cols} is too large for one row per program")
    num_warps = min(max(block_size // 512, 1), 16)

    layernorm_kernel[(x2d.shape[0],)](
        x2d, weight, bias, y, x2d.stride(0), y.stride(0), n_cols, eps,
        BLOCK_SIZE=block_size, num_warps=num_warps,
    )
    return y.view(x.shape)


class ModelNew(nn.Module):
    def __init__(self, normalized_shape: int) -> None:
        super().__init__()
        # Holds the parameters under the same names as the reference (ln.weight, ln.bias);
        # only their tensors are used.
        self.ln = nn.LayerNorm(normalized_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return layernorm(x, self.ln.weight, self.ln.bias, self.ln.eps)
