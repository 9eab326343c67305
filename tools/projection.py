"""Outputs judged by a few numbers: their dot products with random vectors from a seed.

The judge times the candidate from outside its process (tools/judge.py, the race): shipping
every output back would time the transfer, so the candidate's process sends one number per
output instead, sum(out * r) with r drawn from a seed it gets only with the request. An output
within the module's tolerance of the reference's, element by element, always projects within
sum(|r| * (atol + rtol * |ref|)) of the reference's projection (with a margin for float64
rounding), so no right answer is refused; a wrong one lands inside that band only by chance.
"""

from __future__ import annotations

import torch

from kernel_agent.tools.compare import flat_chunks
from kernel_agent.tools.tolerance import Atol, atol_of

ROUNDING = 1e-9  # relative to sum(|r * ref|): float64 summation error, with room to spare


def vectors(outputs: list[torch.Tensor], seed: int) -> list[torch.Tensor]:
    """One standard normal vector per output, in float32 on the output's device."""
    made = []
    for out in outputs:
        generator = torch.Generator(device=out.device).manual_seed(seed)
        made.append(torch.randn(out.shape, generator=generator, device=out.device))
    return made


def project(outputs: list[torch.Tensor], seed: int) -> list[float]:
    """sum(out * r) per output, in float64."""
    return [sum(float((o.double() * v.double()).sum())
                for o, v in zip(flat_chunks(out), flat_chunks(r), strict=True))
            for out, r in zip(outputs, vectors(outputs, seed), strict=True)]


def bands(reference: list[torch.Tensor], seed: int, atol: Atol,
          rtol: float) -> list[tuple[float, float]]:
    """(the reference's projection, how far from it a right output's projection may be)."""
    found = []
    for index, (ref, r) in enumerate(zip(reference, vectors(reference, seed), strict=True)):
        centre = width = scale = 0.0
        output_atol = atol_of(atol, index)
        for o, v in zip(flat_chunks(ref), flat_chunks(r), strict=True):
            o, v = o.double(), v.double()
            centre += float((o * v).sum())
            width += float((v.abs() * (output_atol + rtol * o.abs())).sum())
            scale += float((o * v).abs().sum())
        found.append((centre, width + ROUNDING * scale + 1e-12))
    return found


def within(projections: list[float], expected: list[tuple[float, float]]) -> bool:
    return len(projections) == len(expected) and all(
        isinstance(p, float) and abs(p - centre) <= width
        for p, (centre, width) in zip(projections, expected, strict=True))
