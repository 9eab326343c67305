"""gelu(x @ W^T + b) as one tiled Triton matmul with a fused epilogue.

Each program computes one (BLOCK_M, BLOCK_N) tile of the output: it walks K in steps of BLOCK_K,
multiplying an (BLOCK_M, BLOCK_K) tile of x by a (BLOCK_K, BLOCK_N) tile of W^T on the tensor
cores into a float32 accumulator. W is stored (N, K), so the W^T tile is read straight from W with
swapped strides, no transpose in memory. When K is done, the bias is added and GELU applied to the
accumulator in registers, and the tile is stored once, in float16.

Programs are numbered in groups of GROUP_M tile rows: consecutive programs sweep down a column
of GROUP_M tiles before moving right, so the tiles of x and W that the running programs share
are still in L2 when they are read again.

Block sizes for sm_90 at M = N = K = 4096: 128 x 256 tiles with BLOCK_K = 64 and 8 warps (two
warpgroups), three pipeline stages (3 * (128 + 256) * 64 * 2 bytes = 144 KiB of shared memory).

GELU uses the identity 0.5 * (1 + tanh(u)) = sigmoid(2u), so
gelu(z) = z * sigmoid(2 * sqrt(2 / pi) * (z + 0.044715 * z^3)), with the same value as torch's
tanh approximation and one exponential per element.
"""

import torch
import triton
import triton.language as tl
from torch import nn

BLOCK_M = 128
BLOCK_N = 256
BLOCK_K = 64
GROUP_M = 8

SQRT_2_OVER_PI = tl.constexpr(0.7978845608028654)


@triton.jit
def _gelu_tanh(z):
    u = SQRT_2_OVER_PI * (z + 0.044715 * z * z * z)
    return z * tl.sigmoid(2.0 * u)


@triton.jit
def matmul_bias_gelu_kernel(
    x_ptr, w_ptr, b_ptr, y_ptr, M, N, K,
    stride_xm, stride_xk, stride_wn, stride_wk, stride_ym, stride_yn,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr,
):
    # Grouped ordering of the output tiles, for L2 reuse.
    pid = tl.program_id(0)
    num_pid_m = tl.cdiv(M, BLOCK_M)
    num_pid_n = tl.cdiv(N, BLOCK_N)
    programs_per_group = GROUP_M * num_pid_n
    first_pid_m = (pid // programs_per_group) * GROUP_M
    group_rows = min(num_pid_m - first_pid_m, GROUP_M)
    pid_m = first_pid_m + (pid % programs_per_group) % group_rows
    pid_n = (pid % programs_per_group) // group_rows

    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    offs_k = tl.arange(0, BLOCK_K)
    m_mask = offs_m < M
    n_mask = offs_n < N
    x_ptrs = x_ptr + offs_m[:, None] * stride_xm + offs_k[None, :] * stride_xk
    w_ptrs = w_ptr + offs_k[:, None] * stride_wk + offs_n[None, :] * stride_wn  # W^T tile

    acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
    for k in range(0, tl.cdiv(K, BLOCK_K)):
        k_mask = offs_k < K - k * BLOCK_K
        x = tl.load(x_ptrs, mask=m_mask[:, None] & k_mask[None, :], other=0.0)
        w = tl.load(w_ptrs, mask=k_mask[:, None] & n_mask[None, :], other=0.0)
        acc = tl.dot(x, w, acc)
        x_ptrs += BLOCK_K * stride_xk
        w_ptrs += BLOCK_K * stride_wk

    # Epilogue on the float32 accumulator: bias, GELU, one store.
    bias = tl.load(b_ptr + offs_n, mask=n_mask, other=0.0).to(tl.float32)
    y = _gelu_tanh(acc + bias[None, :])
    y_ptrs = y_ptr + offs_m[:, None] * stride_ym + offs_n[None, :] * stride_yn
    tl.store(y_ptrs, y.to(y_ptr.dtype.element_ty), mask=m_mask[:, None] & n_mask[None, :])


def matmul_bias_gelu(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    n_out, k_in = weight.shape
    assert x.shape[-1] == k_in and bias.shape == (n_out,), "shapes do not match"
    x2d = x.reshape(-1, k_in)
    m_rows = x2d.shape[0]
    y = torch.empty((m_rows, n_out), dtype=x.dtype, device=x.device)

    grid = (triton.cdiv(m_rows, BLOCK_M) * triton.cdiv(n_out, BLOCK_N),)
    matmul_bias_gelu_kernel[grid](
        x2d, weight, bias, y, m_rows, n_out, k_in,
        x2d.stride(0), x2d.stride(1), weight.stride(0), weight.stride(1),
        y.stride(0), y.stride(1),
        BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, BLOCK_K=BLOCK_K, GROUP_M=GROUP_M,
        num_warps=8, num_stages=3,
    )
    return y.view(*x.shape[:-1], n_out)


class ModelNew(nn.Module):
    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        # Holds the parameters under the same names as the reference (linear.weight,
        # linear.bias); only their tensors are used.
        self.linear = nn.Linear(in_features, out_features, dtype=torch.float16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return matmul_bias_gelu(x, self.linear.weight, self.linear.bias)
