"""SiLU (swish) over a large float32 tensor: y = x * sigmoid(x).

x has shape (4096, 393216), 1.6 billion elements or 6 GiB, as in KernelBench level 1's largest
elementwise problems. There is no reduction and no reuse: each element is read once and written
once, so the problem is bound by memory bandwidth and a good kernel streams 4 bytes in and 4
bytes out per element and does nothing else.
"""

import torch
from torch import nn

KERNEL_AGENT = {
    "request": (
        "SiLU (swish), y = x * sigmoid(x), over a (4096, 393216) float32 tensor. Purely "
        "elementwise and memory-bound: read every element once, write every element once, with "
        "wide (16-byte) loads and stores."
    ),
    "dtype": "float32",
    "backends": ["triton", "cuda"],
}


class Model(nn.Module):
    def __init__(self) -> None:
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(x)


BATCH, DIM = 4096, 393216


def get_inputs() -> list[torch.Tensor]:
    return [torch.randn(BATCH, DIM)]


def get_init_inputs() -> list:
    return []


def get_small_inputs() -> list[torch.Tensor]:
    # 37 * 1001 elements: not a multiple of the block size, so the tail mask runs.
    return [torch.randn(37, 1001)]
