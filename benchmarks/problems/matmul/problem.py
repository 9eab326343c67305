"""Square matrix multiplication in float32: C = A @ B.

A and B have shape (4096, 4096), as in KernelBench level 1's square matmul. The reference is
PyTorch's float32 GEMM; at 2 * 4096^3 = 137 GFLOP on 192 MiB of operands the problem is
compute-bound, so a good kernel keeps the tensor cores busy and reads each operand tile from L2
rather than from memory wherever it can.

Tolerance. A Triton kernel's tl.dot on float32 operands runs on the tensor cores in TF32, which
keeps 10 of float32's 23 mantissa bits (relative precision about 1e-3 per operand; the hardware
truncates the dropped bits rather than rounding them). For standard normal inputs each output is
a sum of K = 4096 products of random sign, so its magnitude is about sqrt(K) = 64 while its TF32
error is a random part of about 0.02 (simulated on the CPU by truncating the operands to TF32)
plus a systematic shrink towards zero of under 1e-3 relative. rtol = 1e-2 covers the relative
part with a wide margin; outputs near zero get no help from rtol, so atol = 0.2 (ten standard
deviations of the random part) covers those. A real bug, such as one BLOCK_K = 32 slice of K lost
or added, moves an output by about sqrt(32) ~ 6 and still fails.
"""

import torch
from torch import nn

KERNEL_AGENT = {
    "request": (
        "C = A @ B for float32 A and B of shape (4096, 4096), with a float32 output. Tensor-core "
        "(TF32) arithmetic with float32 accumulation is allowed; the tolerance is set for it."
    ),
    "dtype": "float32",
    "backends": ["triton", "cuda"],
    "atol": 0.2,
    "rtol": 1e-2,
}


class Model(nn.Module):
    def __init__(self) -> None:
        super().__init__()

    def forward(self, A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
        return torch.matmul(A, B)


M = N = K = 4096


def get_inputs() -> list[torch.Tensor]:
    return [torch.randn(M, K), torch.randn(K, N)]


def get_init_inputs() -> list:
    return []


def get_small_inputs() -> list[torch.Tensor]:
    # Partial tiles in M and N and a K that is not a multiple of BLOCK_K, so every mask runs.
    return [torch.randn(300, 200), torch.randn(200, 170)]
