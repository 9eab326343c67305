"""Hostile candidate: connects to a listener on the host's loopback. Expected: the connection
fails, so it answers correctly and passes; had it connected, it would fail loudly.
"""

import os
import socket

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

PORT = int(os.environ.get("KERNEL_AGENT_SANDBOX_HOSTILE_PORT", "9"))


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        for host in ("127.0.0.1", "::1"):
            try:
                with socket.create_connection((host, PORT), timeout=2):
                    raise RuntimeError(f"network reachable: connected to {host}:{PORT}")
            except OSError:
                pass
        return scale_add(x, b)
