"""The numbers a run is judged by, as pure functions of its results.

Denominators: every finished problem except those the verifier refused as bad input (a problem
that cannot run on this machine, e.g. GPU-sized with no small inputs on a CPU, says nothing about
the kernels); a problem without a candidate, or whose search failed, counts as a failure.
A problem is *compiled* if any attempt's kernels were built (loaded, ModelNew constructed, no
compiler failure: results.reached_compilation), *correct* if any attempt passed the verifier
(numerically correct on every trial and no integrity flag that rejects), and its speedup is the
best over its passing attempts. fast_p is the share of problems both correct and more than p
times faster than the baseline (KernelBench's definition); with p = 0 it is the correct share.
Speed exists only where attempts ran on a GPU: on a CPU every speed metric is None (not
measured), never zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from statistics import mean, median

P_VALUES = (0.0, 1.0, 1.5, 2.0)
BASELINES = ("eager", "compiled")


@dataclass(frozen=True)
class AttemptResult:
    """What the metrics need from one verdict; `elapsed_s` counts from the problem's start."""

    elapsed_s: float
    status: str  # pass, fail, bad_input
    compiled: bool
    correct: bool  # every trial within tolerance, integrity aside
    speedup_eager: float | None = None
    speedup_compiled: float | None = None
    flags: tuple[str, ...] = ()
    on_gpu: bool = False

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    def speedup(self, baseline: str) -> float | None:
        return self.speedup_eager if baseline == "eager" else self.speedup_compiled


@dataclass(frozen=True)
class ProblemResult:
    """A finished problem: outcome is evaluated, bad_input, no_candidate or error."""

    id: str
    level: int | None
    outcome: str
    attempts: tuple[AttemptResult, ...] = ()
    prompt_tokens: int = 0
    completion_tokens: int = 0
    requests: int = 0

    @property
    def compiled(self) -> bool:
        return any(a.compiled for a in self.attempts)

    @property
    def correct(self) -> bool:
        return any(a.passed for a in self.attempts)

    @property
    def numerically_correct(self) -> bool:
        return any(a.correct for a in self.attempts)

    def speedup(self, baseline: str) -> float | None:
        """The best speedup over the baseline among passing attempts; None if none was timed."""
        timed = [s for a in self.attempts if a.passed and (s := a.speedup(baseline)) is not None]
        return max(timed) if timed else None

    def first_correct_s(self) -> float | None:
        times = [a.elapsed_s for a in self.attempts if a.passed]
        return min(times) if times else None


@dataclass(frozen=True)
class Share:
    """count of total; `value` is None for an empty total."""

    count: int
    total: int

    @property
    def value(self) -> float | None:
        return self.count / self.total if self.total else None


@dataclass(frozen=True)
class CurvePoint:
    """Shares reached within `minutes` of each problem's start (None: speed not measured)."""

    minutes: float
    correct: float | None
    fast_1_eager: float | None
    fast_1_compiled: float | None


def counted(problems: Iterable[ProblemResult]) -> list[ProblemResult]:
    """The problems in every denominator: all but those refused as bad input."""
    return [p for p in problems if p.outcome != "bad_input"]


def share(problems: Iterable[ProblemResult], test: Callable[[ProblemResult], bool]) -> Share:
    group = counted(problems)
    return Share(sum(1 for p in group if test(p)), len(group))


def speed_measured(problems: Iterable[ProblemResult]) -> bool:
    """True when some counted attempt ran on a GPU, the only place speed is measured."""
    return any(a.on_gpu for p in counted(problems) for a in p.attempts)


def fast_p(problems: list[ProblemResult], p: float, baseline: str) -> Share | None:
    """Share correct and faster than p x the baseline; None when speed was not measured."""
    if p == 0:
        return share(problems, lambda r: r.correct)
    if not speed_measured(problems):
        return None
    return share(problems, lambda r: r.correct and (r.speedup(baseline) or 0.0) > p)


def untimed_correct(problems: list[ProblemResult], baseline: str) -> int:
    """Correct problems with no speedup over the baseline (e.g. torch.compile failed)."""
    return sum(1 for p in counted(problems) if p.correct and p.speedup(baseline) is None)


def geomean_speedup(problems: list[ProblemResult], baseline: str) -> float | None:
    """Geometric mean of the correct problems' speedups; None when none was measured."""
    values = [s for p in counted(problems) if p.correct and (s := p.speedup(baseline))]
    return math.exp(mean(math.log(v) for v in values)) if values else None


def flag_counts(problems: list[ProblemResult]) -> dict[str, dict[str, int]]:
    """Per integrity flag: how many attempts raised it and in how many problems."""
    counts: dict[str, dict[str, int]] = {}
    for problem in counted(problems):
        seen: set[str] = set()
        for attempt in problem.attempts:
            for name in attempt.flags:
                entry = counts.setdefault(name, {"attempts": 0, "problems": 0})
                entry["attempts"] += 1
                if name not in seen:
                    entry["problems"] += 1
                    seen.add(name)
    return dict(sorted(counts.items()))


def first_correct(problems: list[ProblemResult]) -> dict[str, float | int | None]:
    """Seconds from a problem's start to its first passing attempt, over problems with one."""
    times = [t for p in counted(problems) if (t := p.first_correct_s()) is not None]
    return {"problems": len(times), "median_s": median(times) if times else None,
            "mean_s": mean(times) if times else None, "max_s": max(times) if times else None}


def tokens(problems: list[ProblemResult],
           prices: tuple[float, float] | None = None) -> dict[str, float | int | None]:
    """Model tokens over all finished problems; cost when (input, output) prices per million
    tokens are known."""
    prompt = sum(p.prompt_tokens for p in problems)
    completion = sum(p.completion_tokens for p in problems)
    cost = (prompt * prices[0] + completion * prices[1]) / 1e6 if prices else None
    return {"prompt": prompt, "completion": completion, "total": prompt + completion,
            "requests": sum(p.requests for p in problems), "cost": cost}


def scaling_curve(problems: list[ProblemResult],
                  until_minutes: float | None = None) -> list[CurvePoint]:
    """Share correct and share fast_1 against minutes from each problem's start: a step
    function with a point wherever an attempt finished, from 0 to `until_minutes` (or the
    last attempt)."""
    group = counted(problems)
    moments = sorted({a.elapsed_s / 60 for p in group for a in p.attempts})
    end = max([until_minutes or 0.0, *moments]) if moments or until_minutes else 0.0
    measured = speed_measured(group)

    def reached(minutes: float, baseline: str | None) -> float | None:
        if not group:
            return None
        done = sum(1 for p in group if any(
            a.passed and a.elapsed_s / 60 <= minutes
            and (baseline is None or (a.speedup(baseline) or 0.0) > 1.0) for a in p.attempts))
        return done / len(group)

    return [CurvePoint(t, reached(t, None), reached(t, "eager") if measured else None,
                       reached(t, "compiled") if measured else None)
            for t in sorted({0.0, *moments, end})]


def summary(problems: list[ProblemResult],
            prices: tuple[float, float] | None = None) -> dict[str, object]:
    """Every headline metric of a group of finished problems (a level, or the whole run)."""
    group = counted(problems)
    measured = speed_measured(group)
    return {
        "problems": len(problems),
        "counted": len(group),
        "bad_input": len(problems) - len(group),
        "no_candidate": sum(p.outcome == "no_candidate" for p in group),
        "errors": sum(p.outcome == "error" for p in group),
        "attempts": sum(len(p.attempts) for p in group),
        "compiled": share(group, lambda p: p.compiled),
        "numerically_correct": share(group, lambda p: p.numerically_correct),
        "correct": share(group, lambda p: p.correct),
        "speed_measured": measured,
        "fast_p": {baseline: {p: fast_p(group, p, baseline) for p in P_VALUES}
                   for baseline in BASELINES},
        "untimed_correct": ({b: untimed_correct(group, b) for b in BASELINES} if measured
                            else None),
        "geomean_speedup": {b: geomean_speedup(group, b) for b in BASELINES},
        "flags": flag_counts(group),
        "first_correct": first_correct(group),
        "tokens": tokens(problems, prices),
    }
