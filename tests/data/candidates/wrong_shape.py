import torch
from torch import nn


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (2 * x + b)[:-1]
