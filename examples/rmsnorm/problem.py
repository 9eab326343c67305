"""RMSNorm over the last dimension, with a learnable per-channel weight.

    y = x / sqrt(mean(x^2, dim=-1) + eps) * weight

x has shape (rows, hidden), weight has shape (hidden,). The reference computes in float32 and
returns the input dtype, as the normalisation layers of current language models do. The problem
is memory-bound: each element is read once and written once, so a good kernel moves 2 bytes in
and 2 bytes out per bfloat16 element and does nothing else.
"""

import torch
from torch import nn

KERNEL_AGENT = {
    "request": (
        "RMSNorm over the last dimension of a (rows, hidden) bfloat16 tensor with a learnable "
        "float32 weight of shape (hidden,): y = x * rsqrt(mean(x^2) + eps) * weight, with the "
        "statistics accumulated in float32 and the output in the input dtype. One pass over "
        "memory: read each row once, write it once."
    ),
    "dtype": "bfloat16",
    "backends": ["triton", "cuda"],
}


class Model(nn.Module):
    def __init__(self, hidden_size: int, eps: float = 1e-6) -> None:
        super().__init__()
        # Not all ones, so that a kernel which forgets the weight cannot pass.
        self.weight = nn.Parameter(1.0 + 0.1 * torch.randn(hidden_size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        inv_rms = torch.rsqrt(xf.pow(2).mean(dim=-1, keepdim=True) + self.eps)
        return (xf * inv_rms * self.weight.float()).to(x.dtype)


ROWS, HIDDEN = 4096 * 8, 4096


def get_inputs() -> list[torch.Tensor]:
    return [torch.randn(ROWS, HIDDEN, dtype=torch.bfloat16)]


def get_init_inputs() -> list:
    return [HIDDEN]


def get_small_inputs() -> list[torch.Tensor]:
    # A hidden size that is not a power of two, so the row mask runs.
    return [torch.randn(10, 100, dtype=torch.bfloat16)]


def get_small_init_inputs() -> list:
    return [100]
