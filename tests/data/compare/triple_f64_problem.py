import torch
from torch import nn

KERNEL_AGENT = {"atol": 1e-13, "rtol": 1e-13, "dtype": "float64"}

class Model(nn.Module):
    def forward(self, x):
        return x * 3.0

def get_inputs():
    return [torch.randn(1000, dtype=torch.float64)]

def get_init_inputs():
    return []
