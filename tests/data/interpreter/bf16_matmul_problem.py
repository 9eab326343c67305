"""A bf16 matrix product, small enough for Triton's interpreter."""

import torch
from torch import nn


class Model(nn.Module):
    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a @ b


def get_inputs():
    return [torch.randn(64, 96, dtype=torch.bfloat16), torch.randn(96, 64, dtype=torch.bfloat16)]


def get_init_inputs():
    return []
