"""Elementwise comparison of a candidate's outputs with the reference's.

An element passes when the reference is finite and |out - ref| <= atol + rtol * |ref|
(torch.allclose's rule), or when both are the same value: where the reference is Inf or NaN only
that same value passes, and NaN or Inf where the reference is finite never does. Complex
elements are judged by the modulus of their difference, integer and boolean ones exactly.
Work is done in chunks so that comparing multi-gigabyte outputs does not double the memory they
take.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from kernel_agent.tools.tolerance import Atol, atol_of
from kernel_agent.tools.verdict import Trial

CHUNK_ELEMENTS = 1 << 26
# Compared by tools/compare_kernel.py when on a GPU; it computes in float32, so float64 outputs
# are compared by torch operations, in float64.
FUSED_DTYPES = (torch.float16, torch.bfloat16, torch.float32)
# Set in a candidate's process (tools/verify.py) to the folder holding the comparison kernel as
# the judge compiled it (tools/verifier_kernels.py); unset, the process compares with torch.
SHARED_CACHE_VARIABLE = "KERNEL_AGENT_VERIFIER_KERNELS"
# A new process's first launch of the kernel takes about half a second, its files given: more
# than torch's operations take over all of a verdict's comparisons of an output below this size
# (about 0.1 s per comparison of 2**28 elements).
KERNEL_PAYS_FROM = 1 << 28
DEFAULT_TOLERANCE = {
    torch.float32: 1e-2,
    torch.float64: 1e-2,
    torch.float16: 1e-2,
    # bf16 keeps 8 mantissa bits (eps 7.8e-3): 1e-2 would be about one ulp, so allow two.
    torch.bfloat16: 2e-2,
}


def flat_chunks(tensor: torch.Tensor) -> Iterator[torch.Tensor]:
    """A tensor's elements, flattened, in views of at most CHUNK_ELEMENTS: whatever is computed
    from one chunk in float64 stays a fraction of the tensor's own size."""
    flat = tensor.detach().reshape(-1)
    for start in range(0, flat.numel(), CHUNK_ELEMENTS):
        yield flat[start:start + CHUNK_ELEMENTS]


def work_device(candidate: torch.Tensor, reference: torch.Tensor) -> torch.device:
    """Where two tensors are compared: on a GPU if either is there, since a CPU takes tens of
    seconds over the gigabytes a GPU compares in milliseconds."""
    return reference.device if reference.is_cuda else candidate.device


def paired_chunks(candidate: torch.Tensor, reference: torch.Tensor
                  ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Matching chunks of two tensors of the same shape, both on the work device (a chunk at a
    time is copied there, never a whole tensor)."""
    device = work_device(candidate, reference)
    for c, r in zip(flat_chunks(candidate), flat_chunks(reference), strict=True):
        yield c.to(device), r.to(device)


class OutputMismatch(Exception):
    """The candidate's outputs differ in number, type, shape or dtype from the reference's."""


def flatten_outputs(value: Any) -> list[torch.Tensor]:
    """A forward's result as a list of tensors (a tensor, or a tuple/list of them)."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, list | tuple):
        out: list[torch.Tensor] = []
        for item in value:
            out.extend(flatten_outputs(item))
        return out
    raise OutputMismatch(
        f"forward returned a {type(value).__name__}, not a tensor or tuple of tensors")


def default_tolerance(outputs: list[torch.Tensor], declared: torch.dtype | None = None) -> float:
    """The problem's declared dtype's default, else the loosest among the reference's outputs.

    A declared dtype wins because CPU runs may use float32 small inputs for a bf16 problem, and
    the kernel is judged by the precision it is written for.
    """
    if declared is not None:
        return DEFAULT_TOLERANCE.get(declared, 1e-2)
    return max(DEFAULT_TOLERANCE.get(t.dtype, 1e-2) for t in outputs)


def check_structure(candidate: list[torch.Tensor], reference: list[torch.Tensor], *,
                    same_device: bool = True) -> None:
    """Same number, shapes and dtypes of outputs; the same devices too unless the caller placed
    the candidate's outputs itself (the judge, which received them)."""
    if len(candidate) != len(reference):
        raise OutputMismatch(
            f"candidate returned {len(candidate)} tensors, the reference {len(reference)}")
    for i, (c, r) in enumerate(zip(candidate, reference, strict=True)):
        if c.shape != r.shape:
            raise OutputMismatch(
                f"output {i} has shape {tuple(c.shape)}, the reference's is {tuple(r.shape)}")
        if c.dtype != r.dtype:
            raise OutputMismatch(f"output {i} has dtype {c.dtype}, the reference's is {r.dtype}")
        if same_device and c.device != r.device:
            raise OutputMismatch(f"output {i} is on {c.device}, the reference's is on {r.device}")


@dataclass
class _Worst:
    ratio: float = -1.0
    output: int = 0
    flat_index: int = 0


def exact(dtype: torch.dtype) -> bool:
    """Integer and boolean outputs have no rounding error to allow for."""
    return not (dtype.is_floating_point or dtype.is_complex)


def work_dtype(dtype: torch.dtype) -> torch.dtype:
    """What the rule computes in: float64 for float64 and exact dtypes (every int32 and most
    int64 values), complex128 for complex ones, float32 for the rest."""
    if dtype.is_complex:
        return torch.complex128
    return torch.float64 if dtype == torch.float64 or exact(dtype) else torch.float32


def closeness(candidate: torch.Tensor, reference: torch.Tensor, atol: float,
              rtol: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """|out - ref|, the bound it must stay within (negative where only `same` may pass: a
    reference that is not finite, an exact dtype), and where both are the same value (NaN
    included): the module's rule, in one place."""
    wide = work_dtype(reference.dtype)
    c, r = candidate.to(wide), reference.to(wide)
    if exact(reference.dtype):
        same = candidate == reference  # in their own dtype: no int64 rounded on the way
        return (c - r).abs(), torch.full(r.shape, -1.0, dtype=torch.float64, device=r.device), same
    same = (candidate == reference) | (candidate.isnan() & reference.isnan())
    bound = atol + rtol * r.abs()
    return (c - r).abs(), torch.where(r.isfinite(), bound, torch.full_like(bound, -1.0)), same


def out_of_tolerance(candidate: torch.Tensor, reference: torch.Tensor, atol: float,
                     rtol: float) -> torch.Tensor:
    """Where the rule fails: a boolean tensor of the inputs' shape."""
    diff, bound, same = closeness(candidate, reference, atol, rtol)
    return ~((diff <= bound) | same)


@dataclass
class OutputSummary:
    """How one output compares, element by element; flat indices into the output."""

    mismatched: int
    nonfinite: int
    max_abs_error: float
    max_rel_error: float | None  # None where no reference element exceeds atol
    worst_ratio: float  # the largest |out - ref| / bound, inf where non-finite
    worst_at: int
    first_bad_at: int | None


def compare(candidate: list[torch.Tensor], reference: list[torch.Tensor], seed: int,
            atol: Atol, rtol: float, *, fused: bool | None = None) -> Trial:
    """Compare output lists (already structure-checked) and describe the result as a Trial.
    `fused`: whether GPU outputs may be compared by the kernel (see summary_of); None: outputs
    of KERNEL_PAYS_FROM elements and more, where its compiled files were given to this process
    (SHARED_CACHE_VARIABLE)."""
    given = SHARED_CACHE_VARIABLE in os.environ
    trial = Trial(seed=seed, passed=True)
    worst = _Worst()
    first_bad: tuple[int, int] | None = None
    for out_index, (c_full, r_full) in enumerate(zip(candidate, reference, strict=True)):
        trial.elements += c_full.numel()
        if not c_full.numel():
            continue
        summary = summary_of(c_full, r_full, atol_of(atol, out_index), rtol,
                             fused=fused if fused is not None else (
            given and c_full.numel() >= KERNEL_PAYS_FROM))
        trial.mismatched += summary.mismatched
        trial.nonfinite += summary.nonfinite
        trial.max_abs_error = max(trial.max_abs_error, summary.max_abs_error)
        if summary.max_rel_error is not None:
            trial.max_rel_error = max(trial.max_rel_error, summary.max_rel_error)
        if summary.worst_ratio > worst.ratio:
            worst = _Worst(summary.worst_ratio, out_index, summary.worst_at)
        if summary.first_bad_at is not None and first_bad is None:
            first_bad = (out_index, summary.first_bad_at)
    trial.passed = trial.mismatched == 0
    if first_bad is not None:
        out = first_bad[0]
        trial.bad_region = bad_region(candidate[out], reference[out], atol_of(atol, out), rtol)
        trial.bad_output_shape = list(candidate[out].shape)
    if worst.ratio >= 0:
        shape = candidate[worst.output].shape
        trial.worst_output = worst.output
        trial.worst_index = unravel(worst.flat_index, shape)
        trial.candidate_value = scalar(candidate[worst.output].reshape(-1)[worst.flat_index])
        trial.reference_value = scalar(reference[worst.output].reshape(-1)[worst.flat_index])
    if first_bad is not None:
        trial.first_bad_index = unravel(first_bad[1], candidate[first_bad[0]].shape)
    return trial


def summary_of(candidate: torch.Tensor, reference: torch.Tensor, atol: float, rtol: float, *,
               fused: bool = True) -> OutputSummary:
    """One output's summary: by one Triton kernel where floating outputs meet on a GPU and it
    is `fused`, else by torch operations (always on a CPU, where the kernel would only run
    interpreted)."""
    if (fused and work_device(candidate, reference).type == "cuda"
            and candidate.dtype == reference.dtype
            and candidate.dtype in FUSED_DTYPES):
        from kernel_agent.tools.compare_kernel import output_summary

        return output_summary(paired_chunks(candidate, reference), atol, rtol)
    return torch_summary(candidate, reference, atol, rtol)


def torch_summary(candidate: torch.Tensor, reference: torch.Tensor, atol: float,
                  rtol: float) -> OutputSummary:
    """One output's summary, chunk by chunk with torch operations."""
    summary = OutputSummary(0, 0, 0.0, None, -1.0, 0, None)
    for number, (c, r) in enumerate(paired_chunks(candidate, reference)):
        start = number * CHUNK_ELEMENTS
        diff, bound, same = closeness(c, r, atol, rtol)
        bad = ~((diff <= bound) | same)
        nonfinite = ~c.isfinite() & r.isfinite()
        r = r.to(diff.dtype) if not r.is_complex() else r.abs()
        ratio = torch.where(same, torch.zeros_like(diff), diff / bound)
        # Where only the same value passes, a miss ranks with NaN, above any finite ratio.
        ratio = torch.where(bad & (bound < 0), torch.full_like(ratio, float("nan")), ratio)
        ratio = torch.nan_to_num(ratio, nan=float("inf"))
        ratio = torch.where(nonfinite, torch.full_like(ratio, float("inf")), ratio)
        n_bad = int(bad.sum())
        summary.mismatched += n_bad
        summary.nonfinite += int(nonfinite.sum())
        finite_diff = torch.where(same, torch.zeros_like(diff), diff)
        summary.max_abs_error = max(summary.max_abs_error, float(
            torch.nan_to_num(finite_diff, nan=float("inf")).max()))
        meaningful = r.abs() > atol
        if bool(meaningful.any()):
            rel = float(torch.nan_to_num(finite_diff[meaningful] / r.abs()[meaningful],
                                         nan=float("inf")).max())
            summary.max_rel_error = max(rel, summary.max_rel_error or 0.0)
        chunk_worst = int(ratio.argmax())
        if float(ratio[chunk_worst]) > summary.worst_ratio:
            summary.worst_ratio, summary.worst_at = float(ratio[chunk_worst]), start + chunk_worst
        if n_bad and summary.first_bad_at is None:
            summary.first_bad_at = start + int(bad.nonzero()[0, 0])
    return summary


def bad_region(candidate: torch.Tensor, reference: torch.Tensor, atol: float,
               rtol: float) -> list[list[int]]:
    """[first, last] index along each dimension where any element is out of tolerance."""
    bad = torch.empty(candidate.shape, dtype=torch.bool, device=work_device(candidate, reference))
    for out, (c, r) in zip(flat_chunks(bad), paired_chunks(candidate, reference), strict=True):
        out.copy_(out_of_tolerance(c, r, atol, rtol))
    region = []
    for dim in range(bad.dim()):
        others = [d for d in range(bad.dim()) if d != dim]
        along = bad.any(dim=others) if others else bad
        hits = along.nonzero().flatten()
        region.append([int(hits[0]), int(hits[-1])] if hits.numel() else [0, -1])
    return region


def unravel(flat: int, shape: torch.Size) -> list[int]:
    index = []
    for size in reversed(shape):
        index.append(flat % size if size else 0)
        flat //= max(size, 1)
    return list(reversed(index))


def scalar(t: torch.Tensor) -> float:
    """One element as a float: a complex one by its modulus."""
    value = t.item()
    return float(abs(value)) if isinstance(value, complex) else float(value)
