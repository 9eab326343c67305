"""y = 2 * x + b: a small elementwise problem for the verifier's own tests."""

import torch
from torch import nn


class Model(nn.Module):
    def forward(self, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return 2 * x + b


def get_inputs() -> list[torch.Tensor]:
    return [torch.randn(1000), torch.randn(1000)]


def get_init_inputs() -> list:
    return []
