import torch
import triton
import triton.language as tl
from torch import nn


@triton.jit
def scale_add_kernel(x_ptr, b_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    x = tl.load(x_ptr + offsets, mask=mask)
    b = tl.load(b_ptr + offsets, mask=mask)
    tl.store(out_ptr + offsets, 2 * x + b, mask=mask)


class Deferred(torch.Tensor):
    """A tensor subclass: the kind of output whose operations could do the work later."""


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        n = x.numel()
        scale_add_kernel[(triton.cdiv(n, 256),)](x, b, out, n, BLOCK=256)
        return out.as_subclass(Deferred)
