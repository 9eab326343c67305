"""Row softmax as a one-row-per-program Triton kernel, with a looped fallback for long rows.

A row of 16384 float32 values is 64 KiB: with 16 warps each thread holds 32 of them in registers
(eight 16-byte loads). Each program loads its whole row once (BLOCK_SIZE is the row length
rounded up to a power of two, the tail masked with -inf so it adds exp(-inf) = 0 to the sum),
takes the maximum, exponentiates, sums, divides and stores. x is read once and y written once,
which is the bound for this problem.

Rows longer than MAX_ROW_BLOCK elements do not fit in registers. For those, softmax_looped_kernel
walks the row in blocks twice: the first pass keeps a running maximum and a running sum of
exponentials per lane (the sum rescaled whenever the maximum grows), the second pass writes
exp(x - max) / sum. That reads x twice, the price of rows that do not fit on chip.
"""

import torch
import triton
import triton.language as tl
from torch import nn

MAX_ROW_BLOCK = 32768
LOOP_BLOCK = 4096


@triton.jit
def softmax_kernel(x_ptr, y_ptr, x_row_stride, y_row_stride, n_cols, BLOCK_SIZE: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK_SIZE)
    mask = cols < n_cols

    x = tl.load(x_ptr + row * x_row_stride + cols, mask=mask, other=-float("inf"))
    x = x.to(tl.float32)
    row_max = tl.max(x, axis=0)
    numerator = tl.exp(x - row_max)
    denominator = tl.sum(numerator, axis=0)
    y = numerator / denominator
    tl.store(y_ptr + row * y_row_stride + cols, y.to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def softmax_looped_kernel(
    x_ptr, y_ptr, x_row_stride, y_row_stride, n_cols, BLOCK_SIZE: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    x_row = x_ptr + row * x_row_stride
    y_row = y_ptr + row * y_row_stride
    cols = tl.arange(0, BLOCK_SIZE)

    # Pass 1: per-lane running maximum m and sum s of exp(x - m).
    m = tl.full((BLOCK_SIZE,), -float("inf"), tl.float32)
    s = tl.zeros((BLOCK_SIZE,), tl.float32)
    for start in range(0, n_cols, BLOCK_SIZE):
        mask = start + cols < n_cols
        x = tl.load(x_row + start + cols, mask=mask, other=-float("inf")).to(tl.float32)
        m_new = tl.maximum(m, x)
        # A lane that has seen only -inf keeps s = 0 (and avoids -inf - -inf = nan).
        shift = tl.where(m_new == -float("inf"), 0.0, m_new)
        s = s * tl.exp(m - shift) + tl.exp(x - shift)
        m = m_new
    row_max = tl.max(m, axis=0)
    denominator = tl.sum(s * tl.exp(m - row_max), axis=0)

    # Pass 2: normalise and store.
    for start in range(0, n_cols, BLOCK_SIZE):
        mask = start + cols < n_cols
        x = tl.load(x_row + start + cols, mask=mask, other=-float("inf")).to(tl.float32)
        y = tl.exp(x - row_max) / denominator
        tl.store(y_row + start + cols, y.to(y_ptr.dtype.element_ty), mask=mask)


def softmax(x: torch.Tensor) -> torch.Tensor:
    n_cols = x.shape[-1]
    x2d = x.reshape(-1, n_cols)
    if x2d.stride(-1) != 1:
        x2d = x2d.contiguous()
    y = torch.empty(x2d.shape, dtype=x.dtype, device=x.device)
    n_rows = x2d.shape[0]
    if n_rows == 0 or n_cols == 0:
        return y.view(x.shape)

    block_size = triton.next_power_of_2(n_cols)
    if block_size <= MAX_ROW_BLOCK:
        num_warps = min(max(block_size // 1024, 4), 16)
        softmax_kernel[(n_rows,)](
            x2d, y, x2d.stride(0), y.stride(0), n_cols,
            BLOCK_SIZE=block_size, num_warps=num_warps,
        )
    else:
        softmax_looped_kernel[(n_rows,)](
            x2d, y, x2d.stride(0), y.stride(0), n_cols,
            BLOCK_SIZE=LOOP_BLOCK, num_warps=8,
        )
    return y.view(x.shape)


class ModelNew(nn.Module):
    def __init__(self) -> None:
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return softmax(x)
