import threading
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


def linger(seconds: float) -> None:
    time.sleep(seconds)


class ModelNew(nn.Module):
    """Right on every call, and each call leaves a thread behind: one that could go on working,
    or change what the verifier reads, after the call has returned."""

    def forward(self, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        out = torch.empty_like(x)
        n = x.numel()
        scale_add_kernel[(triton.cdiv(n, 256),)](x, b, out, n, BLOCK=256)
        threading.Thread(target=linger, args=(30.0,), name="lingering", daemon=True).start()
        return out
