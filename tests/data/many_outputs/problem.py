"""Twelve thousand outputs, one element each: the candidate's description of its outputs for the
audit (about a hundred bytes each) is larger than a fixed reply limit of 1 MiB would allow."""

import torch
from torch import nn

OUTPUTS = 12_000


class Model(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(x[i:i + 1] * 2 for i in range(OUTPUTS))


def get_inputs():
    return [torch.randn(OUTPUTS)]


def get_init_inputs():
    return []
