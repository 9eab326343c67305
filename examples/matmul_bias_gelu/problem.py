"""A linear layer with a fused GELU: y = gelu(x @ W^T + b).

x has shape (M, K), the nn.Linear weight W has shape (N, K) and its bias b shape (N,); all
float16. GELU is the tanh approximation,

    gelu(z) = 0.5 * z * (1 + tanh(sqrt(2 / pi) * (z + 0.044715 * z^3))),

i.e. torch's `F.gelu(z, approximate="tanh")`. Eager PyTorch runs a GEMM (with the bias) and then
a separate elementwise kernel that reads the (M, N) result back from memory and writes it again;
a fused kernel applies bias and GELU to the accumulator before the single store.
"""

import torch
import torch.nn.functional as F
from torch import nn

KERNEL_AGENT = {
    "request": (
        "A linear layer with a fused epilogue: y = gelu(x @ W^T + b) for x of shape (M, K), "
        "W of shape (N, K) and b of shape (N,), all float16, with the tanh approximation of "
        "GELU. One tiled matmul kernel with a float32 accumulator that adds the bias and "
        "applies GELU before its only store of the output."
    ),
    "dtype": "float16",
    "backends": ["triton", "cuda"],
}


class Model(nn.Module):
    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, dtype=torch.float16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.linear(x), approximate="tanh")


# An MLP's up-projection: 16384 tokens of width 1024 into 4096 features. Eager's separate GELU
# reads and writes the 128 MiB (M, N) result once more, a third of the GEMM's own time on an H100.
M, N, K = 16384, 4096, 1024


def get_inputs() -> list[torch.Tensor]:
    return [torch.randn(M, K, dtype=torch.float16)]


def get_init_inputs() -> list:
    return [K, N]


def get_small_inputs() -> list[torch.Tensor]:
    # A 3 x 3 grid of output tiles whose last row and column are partial, and a K that is not
    # a multiple of BLOCK_K, so every mask runs.
    return [torch.randn(300, 200, dtype=torch.float16)]


def get_small_init_inputs() -> list:
    return [200, 520]
