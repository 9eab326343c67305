"""LayerNorm over the last dimension, with a learnable weight and bias.

    y = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias

over each row of x, with the biased variance, as torch.nn.LayerNorm computes it. x has shape
(16384, 8192) in float32 (512 MiB); weight and bias have shape (8192,). Each row is reduced twice
(mean, then variance) before it is written, but a row of 8192 float32 values is 32 KiB and fits
on chip, so the problem is memory-bound: read x once, write y once.
"""

import torch
from torch import nn

KERNEL_AGENT = {
    "request": (
        "LayerNorm over the last dimension of a (16384, 8192) float32 tensor with a learnable "
        "weight and bias of shape (8192,), eps = 1e-5, biased variance (torch.nn.LayerNorm). One "
        "pass over memory: read each row once, keep it on chip for the mean and the variance, "
        "write it once."
    ),
    "dtype": "float32",
    "backends": ["triton", "cuda"],
}


class Model(nn.Module):
    def __init__(self, normalized_shape: int) -> None:
        super().__init__()
        self.ln = nn.LayerNorm(normalized_shape)
        # Not ones and zeros, so that a kernel which forgets the weight or the bias cannot pass.
        with torch.no_grad():
            self.ln.weight.add_(0.1 * torch.randn(normalized_shape))
            self.ln.bias.add_(0.1 * torch.randn(normalized_shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ln(x)


ROWS, HIDDEN = 16384, 8192


def get_inputs() -> list[torch.Tensor]:
    return [torch.randn(ROWS, HIDDEN)]


def get_init_inputs() -> list:
    return [HIDDEN]


def get_small_inputs() -> list[torch.Tensor]:
    # A row length that is not a power of two, so the row mask runs; a non-zero mean and a
    # non-unit spread, so that the mean and the variance both matter.
    return [3.0 + 2.0 * torch.randn(10, 100)]


def get_small_init_inputs() -> list:
    return [100]
