"""y = copy of x (float32): a memory-bound problem for the compile, inspect and profile tools."""

import torch
from torch import nn


class Model(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone()


def get_inputs() -> list[torch.Tensor]:
    return [torch.randn(1 << 26)]


def get_init_inputs() -> list:
    return []


def get_small_inputs() -> list[torch.Tensor]:
    # A multiple of 16 elements, so the length is specialised as 16-divisible and the masked
    # loads can still be vectorised.
    return [torch.randn(6144)]
