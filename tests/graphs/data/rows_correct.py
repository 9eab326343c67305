import torch
import triton
import triton.language as tl
from torch import nn


@triton.jit
def double_rows_kernel(x_ptr, out_ptr, columns, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    for start in range(0, columns, BLOCK):
        cols = start + tl.arange(0, BLOCK)
        mask = cols < columns
        x = tl.load(x_ptr + row * columns + cols, mask=mask)
        tl.store(out_ptr + row * columns + cols, 2 * x, mask=mask)


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(x)
        rows, columns = x.shape
        double_rows_kernel[(rows,)](x, out, columns, BLOCK=32)
        return out
