"""A 'candidate' that launches no kernel of its own: the verifier must flag it."""

import torch
from torch import nn


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone()
