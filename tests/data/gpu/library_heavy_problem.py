"""y = 2 * (a @ w): a matmul with a cheap epilogue."""

import torch
from torch import nn


class Model(nn.Module):
    def forward(self, a: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return 2 * (a @ w)


def get_inputs() -> list[torch.Tensor]:
    return [torch.randn(4096, 4096), torch.randn(4096, 4096)]


def get_init_inputs() -> list:
    return []
