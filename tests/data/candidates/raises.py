import torch
from torch import nn


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        scale = {"two": 2}
        return scale["three"] * x + b
