"""Softmax over the last dimension of a float32 matrix: y[i] = exp(x[i] - max(x[i])) / sum(...).

x has shape (16384, 16384), 1 GiB. Each row is reduced twice (its maximum, then the sum of
exponentials) before it can be written, but a row of 16384 float32 values is 64 KiB, small
enough to be held on chip by one program, so a good kernel still reads x once and writes y once.

Tolerance. With 16384 columns the outputs are around 1 / 16384 ~ 6e-5 and at most a few 1e-3, so
the default atol of 1e-2 would pass an all-zero output. The outputs are compared instead with
atol = 1e-6 (under 2% of a typical value) and rtol = 1e-3, which float32 arithmetic with the
GPU's fast exponential meets with orders of magnitude to spare.
"""

import torch
from torch import nn

KERNEL_AGENT = {
    "request": (
        "Softmax over the last dimension of a (16384, 16384) float32 tensor, numerically stable "
        "(subtract the row maximum before exponentiating). Memory-bound: read each row once and "
        "write it once, keeping the row on chip between the reductions and the store."
    ),
    "dtype": "float32",
    "backends": ["triton", "cuda"],
    "atol": 1e-6,
    "rtol": 1e-3,
}


class Model(nn.Module):
    def __init__(self) -> None:
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(x, dim=-1)


ROWS, COLS = 16384, 16384


def get_inputs() -> list[torch.Tensor]:
    return [torch.randn(ROWS, COLS)]


def get_init_inputs() -> list:
    return []


def get_small_inputs() -> list[torch.Tensor]:
    # A row length that is not a power of two, so the masked tail of the block runs.
    return [torch.randn(13, 1000)]
