"""The comparison rule of tools/compare.py as one Triton kernel, for outputs on a GPU.

Written with torch operations, the rule takes some forty kernels per chunk, each reading and
writing the chunk again; over a multi-gigabyte output that is a fifth of a second per
comparison, and a verdict compares a dozen times. This kernel reads each element pair once and
leaves one row of partial results per block, reduced on the device and read back with one
synchronisation. Imported only once a GPU tensor is compared: importing triton earlier would
take the CPU verifier's interpreter mode away (tools/verify.py sets it before the first import).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import triton
import triton.language as tl

from kernel_agent.sandbox.environment import variables_set
from kernel_agent.tools.compare import SHARED_CACHE_VARIABLE, OutputSummary

BLOCK = 4096
NONE = torch.iinfo(torch.int64).max  # a block's first bad index where it has none


@triton.jit
def nan_to_num(x):
    """torch.nan_to_num(x, nan=inf) for values that are never -inf: NaN becomes inf, and inf the
    largest finite float32, so that a NaN stands out above any mere overflow."""
    x = tl.where(x == float("inf"), 3.4028234663852886e38, x)
    return tl.where(x != x, float("inf"), x)


# Unspecialised sizes and addresses: one compiled kernel per dtype serves every output, so what
# the judge compiled ahead (tools/verifier_kernels.py) is all a verdict needs.
@triton.jit(do_not_specialize=["c_ptr", "r_ptr", "n"])
def compare_blocks(c_ptr, r_ptr, n, atol, rtol, bad_ptr, nonfinite_ptr, diff_ptr, rel_ptr,
                   ratio_ptr, worst_ptr, first_bad_ptr, BLOCK: tl.constexpr):
    """Per block of BLOCK elements: the count of elements out of tolerance and of non-finite
    ones where the reference is finite, the largest |out - ref| (NaN counted as inf), the
    largest relative error where |ref| > atol (-inf if none), the largest error-to-bound ratio
    and where it is, and the first element out of tolerance (BLOCK if none)."""
    block = tl.program_id(0)
    local = tl.arange(0, BLOCK)
    offsets = block * BLOCK + local
    inside = offsets < n
    c = tl.load(c_ptr + offsets, mask=inside, other=0.0).to(tl.float32)
    r = tl.load(r_ptr + offsets, mask=inside, other=0.0).to(tl.float32)
    inf = float("inf")
    diff = tl.abs(c - r)
    r_abs = tl.abs(r)
    bound = atol + rtol * r_abs
    same = (c == r) | ((c != c) & (r != r))
    c_finite = (c == c) & (tl.abs(c) != inf)
    r_finite = (r == r) & (r_abs != inf)
    bad = ~(((diff <= bound) & r_finite) | same) & inside  # Inf or NaN: only the same passes
    nonfinite = ~c_finite & r_finite & inside
    finite_diff = tl.where(same, 0.0, diff)
    ratio = nan_to_num(tl.where(same, 0.0, diff / bound))
    ratio = tl.where(nonfinite, inf, ratio)
    ratio = tl.where(inside, ratio, -1.0)
    rel = nan_to_num(finite_diff / r_abs)
    rel = tl.where((r_abs > atol) & inside, rel, -inf)
    worst, worst_at = tl.max(ratio, axis=0, return_indices=True)
    tl.store(bad_ptr + block, tl.sum(bad.to(tl.int32), axis=0))
    tl.store(nonfinite_ptr + block, tl.sum(nonfinite.to(tl.int32), axis=0))
    tl.store(diff_ptr + block, tl.max(tl.where(inside, nan_to_num(finite_diff), 0.0), axis=0))
    tl.store(rel_ptr + block, tl.max(rel, axis=0))
    tl.store(ratio_ptr + block, worst)
    tl.store(worst_ptr + block, worst_at)
    tl.store(first_bad_ptr + block, tl.min(tl.where(bad, local, BLOCK), axis=0))


def block_results(chunks: Iterator[tuple[torch.Tensor, torch.Tensor]], atol: float,
                  rtol: float) -> dict[str, torch.Tensor]:
    """The kernel's per-block results over all chunks of one output, in element order, still
    on the device: counts, maxima, and the flat index of each block's worst and first bad
    element (NONE where it has none)."""
    parts: list[dict[str, torch.Tensor]] = []
    start = 0
    for c, r in chunks:
        blocks = triton.cdiv(c.numel(), BLOCK)
        out = {name: torch.empty(blocks, dtype=dtype, device=c.device) for name, dtype in (
            ("bad", torch.int32), ("nonfinite", torch.int32), ("diff", torch.float32),
            ("rel", torch.float32), ("ratio", torch.float32), ("worst", torch.int32),
            ("first_bad", torch.int32))}
        with compiled_in(os.environ.get(SHARED_CACHE_VARIABLE)):
            compare_blocks[(blocks,)](
                c.contiguous(), r.contiguous(), c.numel(), float(atol), float(rtol), out["bad"],
                out["nonfinite"], out["diff"], out["rel"], out["ratio"], out["worst"],
                out["first_bad"], BLOCK=BLOCK, enable_fp_fusion=False)
        base = start + BLOCK * torch.arange(blocks, dtype=torch.int64, device=c.device)
        out["worst"] = base + out["worst"]
        out["first_bad"] = torch.where(out["first_bad"] < BLOCK, base + out["first_bad"], NONE)
        parts.append(out)
        start += c.numel()
    return {name: torch.cat([p[name] for p in parts]) for name in parts[0]}


def output_summary(chunks: Iterator[tuple[torch.Tensor, torch.Tensor]], atol: float,
                   rtol: float) -> OutputSummary:
    """One output's summary, reduced on the device and read back with one synchronisation."""
    blocks = block_results(chunks, atol, rtol)
    worst_block = torch.argmax(blocks["ratio"]).view(1)  # the first block holding the largest
    values = torch.cat([
        blocks["bad"].sum(dtype=torch.int64).double().view(1),
        blocks["nonfinite"].sum(dtype=torch.int64).double().view(1),
        blocks["diff"].max().double().view(1), blocks["rel"].max().double().view(1),
        blocks["ratio"].index_select(0, worst_block).double(),
        blocks["worst"].index_select(0, worst_block).double(),
        blocks["first_bad"].min().double().view(1),
    ]).tolist()
    mismatched, nonfinite, max_abs, max_rel, ratio, worst_at, first_bad_at = values
    return OutputSummary(
        mismatched=int(mismatched), nonfinite=int(nonfinite), max_abs_error=max_abs,
        max_rel_error=None if max_rel == float("-inf") else max_rel, worst_ratio=ratio,
        worst_at=int(worst_at), first_bad_at=int(first_bad_at) if mismatched else None)


def warm_up(dtype: torch.dtype, folder: str) -> None:
    """Compile the kernel for outputs of `dtype` into `folder` (Triton's cache) by one launch."""
    one = torch.zeros(1, dtype=dtype, device="cuda")
    with compiled_in(folder):
        output_summary(iter([(one, one)]), 0.0, 0.0)


@contextmanager
def compiled_in(folder: str | None) -> Iterator[None]:
    """Triton's cache pointed at `folder`, if given, while the kernel is launched: where a
    compile writes it, or where a new process finds it compiled."""
    with variables_set({"TRITON_CACHE_DIR": folder} if folder is not None else {}):
        yield
