"""gelu(x @ W^T + b) as one persistent Triton matmul with a fused epilogue.

One program per SM walks the output tiles (BLOCK_M, BLOCK_N) with a stride of the SM count, so
the grid is launched once and the next tile's loads overlap the current tile's epilogue (the
tile and K loops are flattened into one software pipeline). For each tile it walks K in steps
of BLOCK_K, multiplying an (BLOCK_M, BLOCK_K) tile of x by a (BLOCK_N, BLOCK_K) tile of W,
transposed in registers' view only, on the tensor cores into a float32 accumulator. Tiles are
loaded through tensor descriptors (TMA on Hopper): W is stored (N, K), K-major, which is what
the tensor cores read, so no transpose in memory, and out-of-range rows and columns read as zero,
so no masks. When K is done, the bias is added and GELU applied to the accumulator in registers,
and the tile is stored once, in float16, through a descriptor that clips the edges.

Tiles are numbered in groups of GROUP_M tile rows: consecutive tiles sweep down a column of
GROUP_M tiles before moving right, so the tiles of x and W that the running programs share
are still in L2 when they are read again.

Block sizes for sm_90: 128 x 256 tiles with BLOCK_K = 64 and 8 warps (two warpgroups), three
pipeline stages (3 * (128 + 256) * 64 * 2 bytes = 144 KiB of shared memory). Measured on an H100
at M = N = K = 4096 (2026-12-06, benchmarks/RESULTS.md): 203 us against 209 us for eager
cuBLAS + GELU, where the non-persistent pointer version of this kernel took 280 us; at that
shape the GEMM dominates and the fusion saves little. The problem's shape, an MLP's
up-projection with K = 1024, is where the saved pass over the output counts.

GELU uses the identity 0.5 * (1 + tanh(u)) = sigmoid(2u), so
gelu(z) = z * sigmoid(2 * sqrt(2 / pi) * (z + 0.044715 * z^3)), with the same value as torch's
tanh approximation and one exponential per element.
"""

import torch
import triton
import triton.language as tl
from torch import nn
from triton.tools.tensor_descriptor import TensorDescriptor

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
    x_desc, w_desc, b_ptr, y_desc, M, N, K,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, GROUP_M: tl.constexpr,
    NUM_PROGRAMS: tl.constexpr,
):
    num_pid_m = tl.cdiv(M, BLOCK_M)
    num_pid_n = tl.cdiv(N, BLOCK_N)
    tiles_per_group = GROUP_M * num_pid_n
    for tile in tl.range(tl.program_id(0), num_pid_m * num_pid_n, NUM_PROGRAMS, flatten=True):
        # Grouped ordering of the output tiles, for L2 reuse.
        first_pid_m = (tile // tiles_per_group) * GROUP_M
        group_rows = min(num_pid_m - first_pid_m, GROUP_M)
        off_m = (first_pid_m + (tile % group_rows)) * BLOCK_M
        off_n = ((tile % tiles_per_group) // group_rows) * BLOCK_N

        acc = tl.zeros((BLOCK_M, BLOCK_N), dtype=tl.float32)
        for k in range(0, tl.cdiv(K, BLOCK_K)):
            x = x_desc.load([off_m, k * BLOCK_K])
            w = w_desc.load([off_n, k * BLOCK_K])
            acc = tl.dot(x, w.T, acc)

        # Epilogue on the float32 accumulator: bias, GELU, one store.
        offs_n = off_n + tl.arange(0, BLOCK_N)
        bias = tl.load(b_ptr + offs_n, mask=offs_n < N, other=0.0).to(tl.float32)
        y = _gelu_tanh(acc + bias[None, :])
        y_desc.store([off_m, off_n], y.to(y_desc.dtype))


def matmul_bias_gelu(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    n_out, k_in = weight.shape
    assert x.shape[-1] == k_in and bias.shape == (n_out,), "shapes do not match"
    x2d = x.reshape(-1, k_in).contiguous()
    m_rows = x2d.shape[0]
    y = torch.empty((m_rows, n_out), dtype=x.dtype, device=x.device)

    tiles = triton.cdiv(m_rows, BLOCK_M) * triton.cdiv(n_out, BLOCK_N)
    programs = min(tiles, sm_count(x.device))
    matmul_bias_gelu_kernel[(programs,)](
        TensorDescriptor.from_tensor(x2d, [BLOCK_M, BLOCK_K]),
        TensorDescriptor.from_tensor(weight.contiguous(), [BLOCK_N, BLOCK_K]), bias,
        TensorDescriptor.from_tensor(y, [BLOCK_M, BLOCK_N]), m_rows, n_out, k_in,
        BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, BLOCK_K=BLOCK_K, GROUP_M=GROUP_M,
        NUM_PROGRAMS=programs, num_warps=8, num_stages=3,
    )
    return y.view(*x.shape[:-1], n_out)


def sm_count(device: torch.device) -> int:
    """Streaming multiprocessors to fill (the interpreter has none: one program per tile)."""
    if device.type != "cuda":
        return 1 << 30
    return torch.cuda.get_device_properties(device).multi_processor_count


class ModelNew(nn.Module):
    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        # Holds the parameters under the same names as the reference (linear.weight,
        # linear.bias); only their tensors are used.
        self.linear = nn.Linear(in_features, out_features, dtype=torch.float16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return matmul_bias_gelu(x, self.linear.weight, self.linear.bias)
