"""y = (x * w).sum(-1): a product reduced over the last dimension."""

import torch
from torch import nn


class Model(nn.Module):
    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return (x * w).sum(dim=-1)


def get_inputs() -> list[torch.Tensor]:
    return [torch.randn(16384, 4096), torch.randn(16384, 4096)]


def get_init_inputs() -> list:
    return []


def get_small_inputs() -> list[torch.Tensor]:
    return [torch.randn(11, 150), torch.randn(11, 150)]
