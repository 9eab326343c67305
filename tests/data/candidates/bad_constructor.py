import torch
from torch import nn


class ModelNew(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.hidden = hidden

    def forward(self, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return 2 * x + b
