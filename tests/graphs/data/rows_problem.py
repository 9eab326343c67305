"""y = 2 * x on a (rows, columns) tensor: a 2-D problem whose error patterns have rows and
columns, for the critic's tests."""

import torch
from torch import nn


class Model(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * x


def get_inputs() -> list[torch.Tensor]:
    return [torch.randn(6, 80)]


def get_init_inputs() -> list:
    return []
