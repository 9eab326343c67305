"""A correct candidate that fails if another candidate's file is in its own compile folder (which
it makes, as a GPU compile would; Triton's interpreter compiles nothing), or if Triton's own
cache would compile into any other folder."""

import os

import torch
import triton
import triton.language as tl
from torch import nn
from triton.runtime.cache import get_cache_manager

PLANTED = "kernel-agent-planted.txt"


@triton.jit
def scale_add_kernel(x_ptr, b_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    x = tl.load(x_ptr + offsets, mask=mask)
    b = tl.load(b_ptr + offsets, mask=mask)
    tl.store(out_ptr + offsets, 2 * x + b, mask=mask)


def scale_add(x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    n = x.numel()
    scale_add_kernel[(triton.cdiv(n, 256),)](x, b, out, n, BLOCK=256)
    return out


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        own = os.path.dirname(os.environ.get("TRITON_CACHE_DIR", "/nonexistent/x"))
        # On a GPU, Triton was imported before this process was given its folder (the sandbox
        # preloads it): it must still compile into this folder.
        triton_dir = get_cache_manager("0" * 64).cache_dir
        if not triton_dir.startswith(own + os.sep):
            raise RuntimeError(f"Triton compiles into {triton_dir}, not this candidate's {own}")
        os.makedirs(own, exist_ok=True)
        if os.path.exists(os.path.join(own, PLANTED)):
            raise RuntimeError(f"another candidate wrote into this candidate's folder {own}")
        return scale_add(x, b)
