"""y = x * x on GPU-sized inputs only, like most real KernelBench problems: there is no
get_small_inputs(), so a CPU run refuses it as too large (bad input) while a GPU times it."""

import torch
from torch import nn


class Model(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * x


def get_inputs() -> list[torch.Tensor]:
    return [torch.randn(16384, 32768)]


def get_init_inputs() -> list:
    return []
