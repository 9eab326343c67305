"""Hostile candidate for a GPU: a Triton kernel stores far outside any allocation.
Expected: cuda_error, and the next candidate in the same pool passes (a fresh CUDA context).
"""

import torch
import triton
import triton.language as tl
from torch import nn


@triton.jit
def wild_store_kernel(out_ptr, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(out_ptr + offsets + (1 << 40), 1.0)  # no mask, 4 TiB past the buffer


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        wild_store_kernel[(4,)](out, BLOCK=256)
        torch.cuda.synchronize()  # the fault surfaces here, as torch's "CUDA error: ..."
        return out
