"""Causal attention with an ALiBi bias (Press et al., "Train Short, Test Long").

    scores = (q @ k^T) * sm_scale + slope_h * (kv_idx - q_idx),   masked to kv_idx <= q_idx
    out    = softmax(scores, dim=-1) @ v

with q, k, v of shape (B, H, S, D), sm_scale = 1/sqrt(D) and one slope per head, the geometric
sequence slope_h = 2^(-8 * (h + 1) / H) for h = 0 .. H-1. (For H a power of two this is the
paper's sequence; the paper interleaves two such sequences for other H, which this problem does
not do.) The bias is a linear penalty on the distance to an earlier key, so the problem is causal,
as ALiBi is in the decoder models that use it: without the mask, (kv_idx - q_idx) would reward the
later keys instead.

The reference materialises the full (B, H, S, S) score matrix and computes the softmax in float32,
then returns the input dtype, so the target numerics are well defined.
"""

import math

import torch
from torch import nn

KERNEL_AGENT = {
    "request": (
        "Fused causal attention forward with an ALiBi bias: for q, k, v of shape (B, H, S, D) in "
        "bfloat16, compute softmax((q @ k^T) / sqrt(D) + slope_h * (kv_idx - q_idx)) @ v over the "
        "keys kv_idx <= q_idx, with slope_h = 2^(-8 * (h + 1) / H). Compute the slopes and the "
        "bias on the fly inside a FlashAttention-style tiled kernel with an online softmax, skip "
        "the key blocks that the causal mask removes entirely, accumulate in float32 and return "
        "bfloat16."
    ),
    "dtype": "bfloat16",
    "backends": ["triton", "cuda"],
}


def alibi_slopes(num_heads: int, device: torch.device) -> torch.Tensor:
    heads = torch.arange(1, num_heads + 1, device=device, dtype=torch.float32)
    return torch.pow(2.0, -8.0 * heads / num_heads)


class Model(nn.Module):
    def __init__(self) -> None:
        super().__init__()

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        num_heads, seq_len, head_dim = q.shape[1], q.shape[2], q.shape[3]
        sm_scale = 1.0 / math.sqrt(head_dim)
        pos = torch.arange(seq_len, device=q.device, dtype=torch.float32)
        distance = pos[None, :] - pos[:, None]  # (S, S): kv_idx - q_idx
        bias = alibi_slopes(num_heads, q.device)[:, None, None] * distance  # (H, S, S)
        scores = torch.matmul(q.float(), k.float().transpose(-2, -1)) * sm_scale + bias
        scores = scores.masked_fill(distance > 0, float("-inf"))
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
    # S = 200 gives two query blocks, blocks both below and on the diagonal, and a partial
    # last block, so every mask runs.
    shape = (1, 2, 200, 64)
    return [torch.randn(shape), torch.randn(shape), torch.randn(shape)]
