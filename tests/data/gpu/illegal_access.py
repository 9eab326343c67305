import torch
import triton
import triton.language as tl
from torch import nn


@triton.jit
def wild_store_kernel(out_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(out_ptr + offsets + (1 << 40), tl.zeros((BLOCK,), tl.float32))


class ModelNew(nn.Module):
    """Stores far outside any allocation: an illegal memory access."""

    def forward(self, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        wild_store_kernel[(triton.cdiv(x.numel(), 256),)](out, x.numel(), BLOCK=256)
        return out
