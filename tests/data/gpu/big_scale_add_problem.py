"""y = 2 * x + b on 64 Mi elements: large enough that GPU time dominates launch overhead."""

import torch
from torch import nn


class Model(nn.Module):
    def forward(self, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return 2 * x + b


def get_inputs() -> list[torch.Tensor]:
    return [torch.randn(1 << 26), torch.randn(1 << 26)]


def get_init_inputs() -> list:
    return []
