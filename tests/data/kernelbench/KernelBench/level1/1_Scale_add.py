"""y = 2 * x + b, elementwise."""

import torch
from torch import nn


class Model(nn.Module):
    def forward(self, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return 2 * x + b


def get_inputs() -> list[torch.Tensor]:
    return [torch.randn(8192, 8192), torch.randn(8192, 8192)]


def get_init_inputs() -> list:
    return []


def get_small_inputs() -> list[torch.Tensor]:
    return [torch.randn(37, 129), torch.randn(37, 129)]
