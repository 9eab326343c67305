import torch
from torch import nn


class Model(nn.Module):
    def forward(self, x, b):
        return x @ b


def get_inputs():
    return [torch.randn(10, 3), torch.randn(4, 10)]


def get_init_inputs():
    return []
