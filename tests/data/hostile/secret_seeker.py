"""Hostile candidate: searches for another candidate's files while that one still runs.
Expected: finds nothing, so it passes; a find makes it fail with the path.
"""

import os
import time

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


def scale_add(x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    n = x.numel()
    scale_add_kernel[(triton.cdiv(n, 256),)](x, b, out, n, BLOCK=256)
    return out

SECRET_FILE = "kernel-agent-secret.txt"
ROOTS = ["/tmp", "/var/tmp", "/dev/shm", "/work", os.path.dirname(os.getcwd())]


def search() -> list[str]:
    roots = ROOTS + [f"/proc/{pid}/cwd" for pid in os.listdir("/proc") if pid.isdigit()]
    found = []
    for root in roots:
        for directory, subdirs, files in os.walk(root):
            if directory.count(os.sep) - root.count(os.sep) >= 3:
                subdirs.clear()
            found += [os.path.join(directory, f) for f in files if f == SECRET_FILE]
    return found


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        time.sleep(1.5)
        found = search()
        if found:
            raise RuntimeError(f"another candidate's files are visible: {found}")
        return scale_add(x, b)
