"""Causal ALiBi attention as one FlashAttention-style Triton kernel.

Each program owns BLOCK_M query rows of one (batch, head) and streams over the keys in blocks of
BLOCK_N with an online softmax (running row maximum, running row sum, float32 accumulator), so
the (S, S) score matrix never reaches memory. The head's slope, 2^(-8 * (h + 1) / H), and the
bias slope * (kv_idx - q_idx) are computed in registers; no bias tensor is read.

The softmax runs in base 2: scores are scaled by qk_scale = sm_scale * log2(e), and the slope by
the same log2(e), so one `exp2` per score remains.

The causal mask shapes the loop. Key blocks entirely below the diagonal (kv_idx < first query of
the block) need no mask at all and run first; then the BLOCK_M keys on the diagonal run with the
causal mask (which also covers keys past the end of the sequence); key blocks above the diagonal
are skipped, which halves the work. Query blocks near the end of the sequence have the longest
loops, so the grid hands them out first, and the short ones fill the gaps at the end.
"""

import math

import torch
import triton
import triton.language as tl
from torch import nn

LOG2E = tl.constexpr(1.44269504)

BLOCK_M = 128
BLOCK_N = 64


@triton.jit
def _attn_inner(
    acc, l_i, m_i, q, offs_m, slope,
    k_base, v_base, lo, hi, seq_len, qk_scale,
    HEAD_DIM: tl.constexpr, BLOCK_N: tl.constexpr, CAUSAL_MASK: tl.constexpr,
):
    offs_d = tl.arange(0, HEAD_DIM)
    q_pos = offs_m.to(tl.float32)
    for start_n in range(lo, hi, BLOCK_N):
        offs_n = start_n + tl.arange(0, BLOCK_N)
        kv_offsets = offs_n[:, None] * HEAD_DIM + offs_d[None, :]
        if CAUSAL_MASK:
            in_seq = offs_n[:, None] < seq_len
            k = tl.load(k_base + kv_offsets, mask=in_seq, other=0.0)
            v = tl.load(v_base + kv_offsets, mask=in_seq, other=0.0)
        else:
            k = tl.load(k_base + kv_offsets)
            v = tl.load(v_base + kv_offsets)

        # Scores in base 2: q.k * sm_scale * log2(e) + slope * log2(e) * (kv_idx - q_idx).
        distance = offs_n.to(tl.float32)[None, :] - q_pos[:, None]
        s = tl.dot(q, tl.trans(k)) * qk_scale + slope * distance
        if CAUSAL_MASK:
            s = tl.where(offs_n[None, :] <= offs_m[:, None], s, float("-inf"))

        # Online softmax: rescale what was accumulated so far to the new row maximum.
        m_new = tl.maximum(m_i, tl.max(s, 1))
        alpha = tl.math.exp2(m_i - m_new)
        p = tl.math.exp2(s - m_new[:, None])
        l_i = l_i * alpha + tl.sum(p, 1)
        acc = acc * alpha[:, None]
        acc = tl.dot(p.to(v.dtype), v, acc)
        m_i = m_new
    return acc, l_i, m_i


@triton.jit
def alibi_attention_kernel(
    q_ptr, k_ptr, v_ptr, out_ptr, qk_scale, seq_len, num_heads,
    HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
):
    tl.static_assert(BLOCK_M % BLOCK_N == 0)
    # Longest loops (last query blocks) first.
    pid_m = tl.num_programs(0) - 1 - tl.program_id(0)
    pid_bh = tl.program_id(1)
    head = pid_bh % num_heads
    slope = tl.math.exp2(-8.0 * (head + 1).to(tl.float32) / num_heads) * LOG2E

    # q, k, v and out are contiguous (B*H, S, D): one (S, D) slab per (batch, head).
    head_offset = pid_bh.to(tl.int64) * seq_len * HEAD_DIM
    q_base = q_ptr + head_offset
    k_base = k_ptr + head_offset
    v_base = v_ptr + head_offset
    out_base = out_ptr + head_offset

    start_m = pid_m * BLOCK_M
    offs_m = start_m + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, HEAD_DIM)
    q_offsets = offs_m[:, None] * HEAD_DIM + offs_d[None, :]
    row_in_seq = offs_m[:, None] < seq_len
    q = tl.load(q_base + q_offsets, mask=row_in_seq, other=0.0)

    m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
    l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
    acc = tl.zeros([BLOCK_M, HEAD_DIM], dtype=tl.float32)

    # Below the diagonal: every key precedes every query of the block, no mask.
    acc, l_i, m_i = _attn_inner(
        acc, l_i, m_i, q, offs_m, slope, k_base, v_base, 0, start_m, seq_len, qk_scale,
        HEAD_DIM, BLOCK_N, CAUSAL_MASK=False,
    )
    # On the diagonal: the causal mask, and the bounds of the sequence for the last block.
    acc, l_i, m_i = _attn_inner(
        acc, l_i, m_i, q, offs_m, slope, k_base, v_base,
        start_m, tl.minimum(start_m + BLOCK_M, seq_len), seq_len, qk_scale,
        HEAD_DIM, BLOCK_N, CAUSAL_MASK=True,
    )

    acc = acc / l_i[:, None]
    tl.store(out_base + q_offsets, acc.to(out_ptr.dtype.element_ty), mask=row_in_seq)


def alibi_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    batch, heads, seq_len, head_dim = q.shape
    assert k.shape == q.shape and v.shape == q.shape, "q, k and v must have the same shape"
    assert head_dim in (16, 32, 64, 128), "head_dim must be a power of two in [16, 128]"
    q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
    out = torch.empty_like(q)

    qk_scale = 1.0 / math.sqrt(head_dim) * LOG2E.value
    grid = (triton.cdiv(seq_len, BLOCK_M), batch * heads)
    alibi_attention_kernel[grid](
        q, k, v, out, qk_scale, seq_len, heads,
        HEAD_DIM=head_dim, BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N,
        num_warps=8, num_stages=3,
    )
    return out


class ModelNew(nn.Module):
    def __init__(self) -> None:
        super().__init__()

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return alibi_attention(q, k, v)
