"""Hostile candidate: writes a file into the compile folder of every other candidate it can find
(a stand-in for a poisoned kernel binary), then answers correctly. Expected: no later candidate
finds the file in its own compile folder.
"""

import os

import torch
import triton
import triton.language as tl
from torch import nn

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


def plant() -> None:
    own = os.path.dirname(os.environ.get("TRITON_CACHE_DIR", "/nonexistent/x"))
    if not os.path.isdir(os.path.dirname(own)):
        return
    for entry in os.scandir(os.path.dirname(own)):
        if entry.is_dir() and entry.path != own:
            with open(os.path.join(entry.path, PLANTED), "w") as f:
                f.write("not what this folder's source compiles to")


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        plant()
        return scale_add(x, b)
