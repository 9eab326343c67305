"""y = 2 * x + b with metadata: tolerance, dtype, one backend, and small inputs for CPU runs."""

import torch
from torch import nn

KERNEL_AGENT = {
    "request": "Scale x by two and add b, elementwise.",
    "atol": 1e-3,
    "rtol": 1e-3,
    "dtype": "float32",
    "backends": ["triton"],
    "trials": 3,
}


class Model(nn.Module):
    def forward(self, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return 2 * x + b


def get_inputs() -> list[torch.Tensor]:
    return [torch.randn(4096, 393216), torch.randn(4096, 393216)]


def get_small_inputs() -> list[torch.Tensor]:
    return [torch.randn(37, 129), torch.randn(37, 129)]


def get_init_inputs() -> list:
    return []
