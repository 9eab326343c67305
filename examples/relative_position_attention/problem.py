"""Attention with a relative positional bias (not causal).

    scores = (q @ k^T) * sm_scale + (q_idx - kv_idx)
    out    = softmax(scores, dim=-1) @ v

with q, k, v of shape (B, H, S, D), sm_scale = 1/sqrt(D), and the bias equal to the query index
minus the key index, as a float. This is the problem of NVIDIA's DeepSeek-R1 kernel-generation
case study: a bias that depends only on positions should be computed inside the kernel, not
materialised as an (S, S) tensor and read back from memory.

A property of this bias worth knowing: it drops by one per key while q.k * sm_scale has unit
variance for these inputs, so the weights fall off like e^(-kv_idx) and only the first few dozen
keys change the output measurably. A kernel that skipped the rest would pass the numerical
check on these inputs, and would still be wrong: the operator is defined over all S keys for any
q and k, and a kernel must attend over all of them.

The reference materialises the full (B, H, S, S) score matrix and computes the softmax in float32,
then returns the input dtype, so the target numerics are well defined.
"""

import math

import torch
from torch import nn

KERNEL_AGENT = {
    "request": (
        "Fused attention forward with a relative positional bias: for q, k, v of shape "
        "(B, H, S, D) in bfloat16, compute softmax((q @ k^T) / sqrt(D) + (q_idx - kv_idx)) @ v "
        "over all keys (not causal). Compute the bias on the fly inside a FlashAttention-style "
        "tiled kernel with an online softmax; never build the (S, S) score or bias matrix in "
        "global memory. Accumulate in float32 and return bfloat16."
    ),
    "dtype": "bfloat16",
    "backends": ["triton", "cuda"],
}


class Model(nn.Module):
    def __init__(self) -> None:
        super().__init__()

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        seq_len, head_dim = q.shape[-2], q.shape[-1]
        sm_scale = 1.0 / math.sqrt(head_dim)
        pos = torch.arange(seq_len, device=q.device, dtype=torch.float32)
        bias = pos[:, None] - pos[None, :]  # (S, S): q_idx - kv_idx
        scores = torch.matmul(q.float(), k.float().transpose(-2, -1)) * sm_scale + bias
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
    # rescaling and the masks both run.
    shape = (1, 2, 200, 64)
    return [torch.randn(shape), torch.randn(shape), torch.randn(shape)]
