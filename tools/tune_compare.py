"""Whether a tuned variant really is faster: it and the original, re-timed interleaved.

A tuning sweep times each variant alone, one after another, so the clocks, the temperature and
whatever else the GPU did in between differ from one timing to the next by more than the few
per cent a good variant gains. The finalist therefore runs again beside the original in one
sandbox task (tools/retime.py, the eager reference left out): same task, same inputs, the
L2 flushed before every run of either, in rounds whose order alternates (A B, B A, A B, ...).
Their outputs are checked there as the verifier checks timed calls: a kernel whose output is
wrong while re-timed is named in `failed`, and nothing is decided.

The rule: each kernel's time is the median of its per-round medians and its spread the range
(max - min) of those round medians. The two are paired round by round (the same round saw the
same clocks and temperature), and the variant wins only if it was faster in so many of the
rounds that chance alone would give that in at most one re-timing in twenty (a one-sided sign
test: all 5 of 5 rounds, 9 of 10), and its time is at least MIN_GAIN below the original's.
Anything less is within what the same kernel varies by, and the original is kept. A count of
rounds, unlike the gap between medians set against the widest spread, is not overturned by one
disturbed round. A caller that times kernels in its own process (a benchmark) applies the same
rule with `decide` to the per-round medians that `kernel_agent.tools.retime.interleaved`
measures.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from kernel_agent.sandbox import Limits, Sandbox
from kernel_agent.tools.wall_limit import DEFAULT_POLICY

RETIME_TASK = "kernel_agent.tools.retime:run"
ROUNDS = 10
SIGNIFICANCE = 0.05  # the chance, for two equally fast kernels, that the variant still wins
MIN_GAIN = 0.01  # a smaller gain than this share of the original's time is not worth a change
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
    rounds = min(len(original_rounds), len(variant_rounds))
    wins = sum(v < o for o, v in zip(original_rounds, variant_rounds, strict=False))
    needed = rounds_needed(rounds)
    gain = original - variant
    share = gain / original if original > 0 else 0.0
    if needed is None:
        faster, verdict = False, (f"{rounds} rounds cannot show a difference beyond chance: "
                                  "the original is kept")
    elif wins < needed:
        faster, verdict = False, (f"faster in {wins} of {rounds} rounds, not beyond chance "
                                  f"({needed} needed): the original is kept")
    elif share < MIN_GAIN:
        faster, verdict = False, (f"faster in {wins} of {rounds} rounds but by {share:.1%}, "
                                  f"under the {MIN_GAIN:.0%} a change must gain: the original "
                                  "is kept")
    else:
        faster, verdict = True, (f"faster by {gain:.4g} ms ({share:.1%}), in {wins} of {rounds} "
                                 f"rounds: beyond chance ({needed} needed)")
    reason = (f"re-timed interleaved over {rounds} rounds: variant {variant:.4g} ms (spread "
              f"{spreads[1]:.2g} ms) vs the original's {original:.4g} ms (spread "
              f"{spreads[0]:.2g} ms); {verdict}")
    return Comparison(True, faster, reason, rounds, device, original, variant, *spreads,
                      list(original_rounds), list(variant_rounds))


def rounds_needed(rounds: int) -> int | None:
    """The fewest rounds of `rounds` a variant must win for a one-sided sign test at
    SIGNIFICANCE; None when even winning all of them is not enough."""
    tail = 0.0
    for wins in range(rounds, 0, -1):
        tail += math.comb(rounds, wins) / 2 ** rounds
        if tail > SIGNIFICANCE:
            return wins + 1 if wins < rounds else None
    return None
