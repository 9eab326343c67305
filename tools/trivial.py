"""A tolerance that an all-zero (or constant) output would meet is no check at all.

KernelBench's issue #165 found level-1 problems whose outputs are so small that returning zeros
passes atol = 1e-2. Where the reference's first outputs show that a trivial output would pass,
that output's absolute tolerance is scaled to it: at most rtol times its root mean square, so an
error is judged against the size of what is computed. The other outputs keep theirs
(tools/tolerance.py). The verdict names what would have passed.
"""

from __future__ import annotations

import torch

from kernel_agent.tools.compare import default_tolerance, flat_chunks
from kernel_agent.tools.tolerance import Atol, PerOutputAtol, atol_of
from kernel_agent.tools.verdict import Flag

FLAG = "trivial_output_passes"
# The share of a reference's elements on which zeros passing makes the tolerance no check.
MOSTLY_ZERO = 0.9


def failing(output: torch.Tensor, value: float, atol: float, rtol: float,
            enough: int = 0) -> int:
    """On how many elements a tensor full of `value` would fail the tolerance against `output`,
    counted a chunk at a time (a multi-gigabyte output in float64 would not fit beside itself)
    and no further once more than `enough` are found."""
    count = 0
    for ref in map(torch.Tensor.double, flat_chunks(output)):
        count += int(((ref - value).abs() > atol + rtol * ref.abs()).sum())
        if count > enough:
            break
    return count


def passes_as(output: torch.Tensor, value: float, atol: float, rtol: float) -> bool:
    """Whether a tensor full of `value` would meet the tolerance against `output`."""
    return failing(output, value, atol, rtol) == 0


def trivial_passing(output: torch.Tensor, atol: float, rtol: float) -> str | None:
    """'all-zero' or 'constant' when such an output would pass against this reference output,
    'mostly-zero' when zeros would pass on MOSTLY_ZERO of its elements or more (a softmax over
    hundreds of columns: a kernel right on its few largest values and wrong anywhere else
    would pass)."""
    if not output.is_floating_point() or output.numel() == 0 or not all(
            bool(chunk.isfinite().all()) for chunk in flat_chunks(output)):
        return None
    allowed = int((1 - MOSTLY_ZERO) * output.numel())
    failed = failing(output, 0.0, atol, rtol, allowed)
    if failed == 0:
        return "all-zero"
    if failed <= allowed:
        return "mostly-zero"
    if output.numel() < 2:  # one value is always its own constant
        return None
    middle = float((output.max().double() + output.min().double()) / 2)
    return "constant" if passes_as(output, middle, atol, rtol) else None


def rms(output: torch.Tensor) -> float:
    squares = sum(float(chunk.double().pow(2).sum()) for chunk in flat_chunks(output))
    return (squares / output.numel()) ** 0.5


def scaled_tolerance(reference: list[torch.Tensor], atol: float,
                     rtol: float) -> tuple[Atol, Flag | None]:
    """The absolute tolerance to judge each output with, and a review flag when a trivial
    output passed: such an output is judged with rtol times its RMS where that is tighter, the
    others with `atol` (tools/tolerance.py)."""
    found = [(i, kind) for i, out in enumerate(reference)
             if (kind := trivial_passing(out, atol, rtol))]
    if not found:
        return atol, None
    rms_of = {i: rms(reference[i]) for i, _ in found}
    tighter = {i: rtol * value for i, value in rms_of.items() if rtol * value < atol}
    scaled: Atol = PerOutputAtol(atol, tighter) if tighter else atol
    index, kind = found[0]
    article = "an" if kind[0] in "aeiou" else "a"
    tolerance = f"the tolerance atol={atol:g}, rtol={rtol:g}"
    output = f"reference output {index} (RMS {rms_of[index]:.3g})"
    if kind == "mostly-zero":
        size = reference[index].numel()
        share = 1 - failing(reference[index], 0.0, atol, rtol, size) / size
        what = (f"an all-zero output would meet {tolerance} on {share:.1%} of the elements of "
                f"{output}")
    else:
        what = f"{article} {kind} output would pass {tolerance} against {output}"
    others = len(found) - 1
    also = f" (and {others} more output{'s' * (others > 1)} like it)" if others else ""
    reason = (f"{what}{also}; "
              + (f"that output is judged with atol={atol_of(scaled, index):.3g}, i.e. rtol times "
                 "its RMS" if index in tighter else "rtol times its RMS is no tighter"))
    if any(trivial_passing(reference[i], atol_of(scaled, i), rtol) in ("all-zero", "constant")
           for i, _ in found):
        reason += ("; the reference output is itself (nearly) constant, so a kernel returning "
                   "that constant still passes: the problem checks little")
    return scaled, Flag(FLAG, reason, "review")


def judged_tolerance(reference: list[torch.Tensor], dtype: torch.dtype | None,
                     atol: float | None, rtol: float | None) -> tuple[Atol, float, Flag | None]:
    """(atol, rtol, review flag) a candidate is judged with against these reference outputs:
    the declared values (options, else the problem's) or the dtype's default, with atol scaled
    where a trivial output would pass. The verifier and the finalists' re-timing share it."""
    default = default_tolerance(reference, dtype)
    rtol = default if rtol is None else rtol
    scaled, flag = scaled_tolerance(reference, default if atol is None else atol, rtol)
    return scaled, rtol, flag
