"""Attention with tanh soft-capping of the scores (Gemma-2 style, cap 50), not causal.

    scores = cap * tanh((q @ k^T) * sm_scale / cap)
    out    = softmax(scores, dim=-1) @ v

with q, k, v of shape (B, H, S, D), sm_scale = 1/sqrt(D) and cap = 50. Soft-capping bounds every
score to (-cap, cap) smoothly, so no single logit can dominate a softmax row; Gemma 2 applies it
in every attention layer. The cap is a score modification, not a bias: it cannot be passed to a
fused attention kernel as an additive mask, so a kernel must apply it to each score inside the
loop, before the softmax.

The reference materialises the full (B, H, S, S) score matrix and computes the softmax in float32,
then returns the input dtype, so the target numerics are well defined.
"""

import math

import torch
from torch import nn

SOFT_CAP = 50.0

KERNEL_AGENT = {
    "request": (
        "Fused attention forward with tanh soft-capping: for q, k, v of shape (B, H, S, D) in "
        "bfloat16, compute softmax(50 * tanh((q @ k^T) / sqrt(D) / 50)) @ v over all keys (not "
        "causal). Apply the cap to each score inside a FlashAttention-style tiled kernel with an "
        "online softmax; never build the (S, S) score matrix in global memory. Accumulate in "
        "float32 and return bfloat16."
    ),
    "dtype": "bfloat16",
    "backends": ["triton", "cuda"],
}


class Model(nn.Module):
    def __init__(self) -> None:
        super().__init__()

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        sm_scale = 1.0 / math.sqrt(q.shape[-1])
        scores = torch.matmul(q.float(), k.float().transpose(-2, -1)) * sm_scale
        scores = SOFT_CAP * torch.tanh(scores / SOFT_CAP)
        probs = torch.softmax(scores, dim=-1)
        return torch.matmul(probs, v.float()).to(q.dtype)


B, H, S, D = 8, 16, 4096, 128


def get_inputs() -> list[torch.Tensor]:
    q = torch.randn(B, H, S, D, dtype=torch.bfloat16)
    k = torch.randn(B, H, S, D, dtype=torch.bfloat16)
    v = torch.randn(B, H, S, D, dtype=torch.bfloat16)
    return [q, k, v]


def get_init_inputs() -> list:
    return []


def get_small_inputs() -> list[torch.Tensor]:
    # float32: Triton's CPU interpreter computes tl.dot wrongly on bfloat16 operands.
    # S = 200 spans several key blocks and ends in a partial one, so the online-softmax
    # rescaling and the masks both run. q is scaled up so that many scores reach the cap.
    shape = (1, 2, 200, 64)
    return [8.0 * torch.randn(shape), torch.randn(shape), torch.randn(shape)]
