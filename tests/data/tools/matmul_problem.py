"""C = A @ B in float16: a small matmul problem for the compile and profile tools' tests."""

import torch
from torch import nn

KERNEL_AGENT = {"dtype": "float16", "backends": ["triton"]}


class Model(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a @ b


def get_inputs() -> list[torch.Tensor]:
    return [torch.randn(4096, 4096, dtype=torch.float16),
            torch.randn(4096, 4096, dtype=torch.float16)]


def get_init_inputs() -> list:
    return []


def get_small_inputs() -> list[torch.Tensor]:
    return [torch.randn(128, 64, dtype=torch.float16),
            torch.randn(64, 128, dtype=torch.float16)]
