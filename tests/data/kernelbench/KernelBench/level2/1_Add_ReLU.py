"""y = relu(x + b): an add fused with its activation."""

import torch
from torch import nn


class Model(nn.Module):
    def forward(self, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + b)


def get_inputs() -> list[torch.Tensor]:
    return [torch.randn(8192, 8192), torch.randn(8192, 8192)]


def get_init_inputs() -> list:
    return []


def get_small_inputs() -> list[torch.Tensor]:
    return [torch.randn(29, 131), torch.randn(29, 131)]
