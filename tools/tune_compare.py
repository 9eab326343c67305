"""Whether a tuned variant really is faster: it and the original, re-timed interleaved.

A tuning sweep times each variant alone, one after another, so the clocks, the temperature and
whatever else the GPU did in between differ from one timing to the next by more than the few
per cent a good variant gains. The finalist therefore runs again beside the original in one
sandbox task (tools/retime.py, the eager reference left out): same process, same inputs, the
L2 flushed before every run of either, in rounds whose order alternates (A B, B A, A B, ...).
Their outputs are checked there as the verifier checks timed calls: a kernel whose output is
wrong while re-timed is named in `failed`, and nothing is decided.

The rule: each kernel's time is the median of its per-round medians and its spread the range
(max - min) of those round medians; the variant wins only if the original's time minus the
variant's is larger than the larger of the two spreads. Anything less is within what the same
kernel varies by from round to round, and the original is kept. A caller that times kernels in
its own process (a benchmark) applies the same rule with `decide` to the per-round medians that
`kernel_agent.tools.retime.interleaved` measures.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from kernel_agent.sandbox import Limits, Sandbox
from kernel_agent.tools.wall_limit import DEFAULT_POLICY

RETIME_TASK = "kernel_agent.tools.retime:run"
ROUNDS = 10
ORIGINAL, VARIANT = "original", "variant"


@dataclass
class Comparison:
    """The interleaved re-timing of the original and one variant, and the decision."""

    measured: bool
    faster: bool  # the variant wins by the rule above
    reason: str
    rounds: int = 0
    device: str | None = None
    original_ms: float | None = None
    variant_ms: float | None = None
    original_spread_ms: float | None = None
    variant_spread_ms: float | None = None
    original_rounds_ms: list[float] = field(default_factory=list)
    variant_rounds_ms: list[float] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # original/variant -> flag: reason

    @property
    def speedup(self) -> float | None:
        """The original's time over the variant's; None unless both were measured."""
        if not self.original_ms or not self.variant_ms:
            return None
        return self.original_ms / self.variant_ms

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "speedup": self.speedup}


def compare_interleaved(problem: dict[str, str], original: dict[str, Any],
                        variant: dict[str, Any], *, sandbox: Sandbox,
                        limits: Limits | None = None, rounds: int = ROUNDS) -> Comparison:
    """Re-time `original` and `variant` ({"text", "path", "tolerance"?: the verdict's})
    interleaved on the GPU and decide.

    Both must already have passed verification; re-timing checks their outputs again. Without
    a GPU, if either fails to run or returns a wrong output, nothing is decided and `faster` is
    False.
    """
    payload = {"problem": problem, "reference": False, "rounds": rounds,
               "candidates": [{"id": ORIGINAL, **original}, {"id": VARIANT, **variant}]}
    result = sandbox.run(RETIME_TASK, payload, limits or Limits(wall_s=DEFAULT_POLICY.ceiling_s))
    if result.failure is not None or result.value is None:
        message = result.failure.message if result.failure else "no result"
        return Comparison(False, False, f"re-timing failed: {message}")
    value = result.value
    if not value.get("measured"):
        return Comparison(False, False, value.get("reason") or "not measured")
    results, errors = value.get("results", {}), value.get("errors", {})
    failed = {key: f"{found['flag']}: {found['reason']}"
              for key, found in value.get("failed", {}).items() if key in (ORIGINAL, VARIANT)}
    if failed:
        why = "; ".join(f"{key}: {text}" for key, text in failed.items())
        return Comparison(False, False, f"wrong output while re-timed ({why})",
                          device=value.get("device"), failed=failed)
    if missing := [key for key in (ORIGINAL, VARIANT) if key not in results]:
        why = "; ".join(f"{key}: {errors.get(key, 'no result')}" for key in missing)
        return Comparison(False, False, f"re-timing failed ({why})", device=value.get("device"))
    return decide(results[ORIGINAL]["round_medians_ms"], results[VARIANT]["round_medians_ms"],
                  value.get("device"))


def decide(original_rounds: list[float], variant_rounds: list[float],
           device: str | None = None) -> Comparison:
    """The rule of the module docstring applied to per-round medians (ms) of both kernels."""
    if not original_rounds or not variant_rounds:
        return Comparison(False, False, "no rounds were timed", device=device)
    original, variant = statistics.median(original_rounds), statistics.median(variant_rounds)
    spreads = (max(original_rounds) - min(original_rounds),
               max(variant_rounds) - min(variant_rounds))
    spread, gain = max(spreads), original - variant
    faster = gain > spread
    rounds = min(len(original_rounds), len(variant_rounds))
    verdict = (f"faster by {gain:.4g} ms, beyond the larger spread ({spread:.2g} ms)" if faster
               else f"not faster beyond the larger spread ({spread:.2g} ms): the original is kept")
    reason = (f"re-timed interleaved over {rounds} rounds: variant {variant:.4g} ms (spread "
              f"{spreads[1]:.2g} ms) vs the original's {original:.4g} ms (spread "
              f"{spreads[0]:.2g} ms); {verdict}")
    return Comparison(True, faster, reason, rounds, device, original, variant, *spreads,
                      list(original_rounds), list(variant_rounds))
