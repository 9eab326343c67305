"""y = clamp(x * scale + shift, -1, 1) with scalar scale and shift given at construction."""

import torch
from torch import nn


class Model(nn.Module):
    def __init__(self, scale: float, shift: float) -> None:
        super().__init__()
        self.scale, self.shift = scale, shift

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x * self.scale + self.shift, -1.0, 1.0)


def get_inputs() -> list[torch.Tensor]:
    return [torch.randn(16384, 8192)]


def get_init_inputs() -> list:
    return [0.5, 0.25]


def get_small_inputs() -> list[torch.Tensor]:
    return [torch.randn(23, 77)]
