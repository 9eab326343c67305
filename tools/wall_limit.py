"""How long one verification may run: what the problem needs, never more than the time left.

A flat limit is too long for a candidate that loops (one held `kernel-agent check` for the full
ten minutes) and says nothing about the problem. The limit here is derived from the reference's
own run in the sandbox (the reference verified as its own candidate: loading, building the
models, running the trials) plus an allowance for what a candidate adds on top (compiling its
kernels on a GPU; the interpreter's slower execution on a CPU): allowance + factor x reference
seconds, kept within [floor, ceiling]. A limit the user gives wins over the derived one; the time
left in a search caps either. `how` says how the number came about, for the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WallPolicy:
    """The constants of the derivation."""

    gpu_allowance_s: float = 180.0  # Triton compiles and autotuning, nvcc for load_inline
    cpu_allowance_s: float = 60.0  # the Triton interpreter runs kernels far slower than torch
    factor: float = 10.0  # a candidate may take this many times the reference's run
    floor_s: float = 30.0
    ceiling_s: float = 600.0  # also the limit when the reference's run time is unknown


DEFAULT_POLICY = WallPolicy()
MIN_WALL_S = 1.0  # a verification started with almost no time left still gets this much


@dataclass(frozen=True)
class WallLimit:
    """A verification's wall-clock limit in seconds, and how it was arrived at."""

    seconds: float
    how: str

    def as_dict(self) -> dict[str, float | str]:
        return {"seconds": self.seconds, "how": self.how}


def derived(reference_s: float | None, gpu: bool, policy: WallPolicy = DEFAULT_POLICY,
            unknown_why: str = "the reference's run time is unknown") -> WallLimit:
    """allowance + factor x the reference's run, within [floor, ceiling]."""
    if reference_s is None:
        return WallLimit(policy.ceiling_s, f"{policy.ceiling_s:g} s, the ceiling: {unknown_why}")
    allowance = policy.gpu_allowance_s if gpu else policy.cpu_allowance_s
    what = "compile allowance (GPU)" if gpu else "allowance for the Triton interpreter (CPU)"
    raw = allowance + policy.factor * reference_s
    how = (f"{allowance:g} s {what} + {policy.factor:g} x {reference_s:.3g} s reference run "
           f"= {raw:.3g} s")
    if raw < policy.floor_s:
        return WallLimit(policy.floor_s, f"{how}, raised to the {policy.floor_s:g} s floor")
    if raw > policy.ceiling_s:
        return WallLimit(policy.ceiling_s, f"{how}, cut to the {policy.ceiling_s:g} s ceiling")
    return WallLimit(round(raw, 1), how)


def given(seconds: float) -> WallLimit:
    return WallLimit(seconds, f"{seconds:g} s, as given")


def within(limit: WallLimit, time_left: float | None) -> WallLimit:
    """`limit`, or the time left in the search when that is shorter."""
    if time_left is None or time_left >= limit.seconds:
        return limit
    seconds = round(max(MIN_WALL_S, time_left), 1)
    return WallLimit(seconds, f"{seconds:g} s left in the search's budget (otherwise "
                              f"{limit.seconds:g} s: {limit.how})")
