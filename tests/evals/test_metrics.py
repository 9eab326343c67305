"""Metrics on hand-made results, against values computed by hand in the comments."""

from __future__ import annotations

import math

import pytest

from kernel_agent.evals.metrics import (
    AttemptResult,
    ProblemResult,
    Share,
    scaling_curve,
    summary,
)


def attempt(seconds: float, status: str = "pass", *, compiled: bool = True,
            correct: bool | None = None, eager: float | None = None,
            compiled_x: float | None = None, flags: tuple[str, ...] = (),
            gpu: bool = True) -> AttemptResult:
    """Speed exists only on a GPU, so a CPU attempt drops the speedups it is given."""
    return AttemptResult(elapsed_s=seconds, status=status, compiled=compiled,
                         correct=status == "pass" if correct is None else correct,
                         speedup_eager=eager if gpu else None,
                         speedup_compiled=compiled_x if gpu else None, flags=flags, on_gpu=gpu)


def problems(gpu: bool = True) -> list[ProblemResult]:
    """A: fails, then passes at 90 s (2.0x eager, 1.2x compile), then a slower pass at 200 s.
    B: passes at 60 s, slower than both baselines. C: passes at 120 s, 1.6x eager, compile
    untimed. D: numerically right but flagged. E: does not load. F: no candidate.
    G: bad input, never counted."""
    def a(*args, **kwargs):
        return attempt(*args, gpu=gpu, **kwargs)

    return [
        ProblemResult("A", 1, "evaluated", (a(30, "fail", correct=False),
                                            a(90, eager=2.0, compiled_x=1.2),
                                            a(200, eager=1.1, compiled_x=0.9)),
                      prompt_tokens=1000, completion_tokens=500, requests=3),
        ProblemResult("B", 1, "evaluated", (a(60, eager=0.5, compiled_x=0.4),),
                      prompt_tokens=200, completion_tokens=100, requests=1),
        ProblemResult("C", 2, "evaluated", (a(120, eager=1.6),)),
        ProblemResult("D", 2, "evaluated", (a(10, "fail", correct=True,
                                              flags=("no_custom_kernel",)),)),
        ProblemResult("E", 2, "evaluated", (a(5, "fail", compiled=False, correct=False),)),
        ProblemResult("F", 2, "no_candidate"),
        ProblemResult("G", 1, "bad_input", (a(1, "bad_input", compiled=False, correct=False),)),
    ]


def test_headline_on_a_gpu():
    result = summary(problems(), prices=(2.0, 8.0))
    assert (result["problems"], result["counted"], result["bad_input"]) == (7, 6, 1)
    assert (result["no_candidate"], result["attempts"]) == (1, 7)
    assert result["compiled"] == Share(4, 6)  # A B C D
    assert result["correct"] == Share(3, 6)  # A B C
    assert result["numerically_correct"] == Share(4, 6)  # + D
    eager, compiled = result["fast_p"]["eager"], result["fast_p"]["compiled"]
    assert eager[0.0] == compiled[0.0] == Share(3, 6)
    assert eager[1.0] == Share(2, 6)  # A 2.0, C 1.6
    assert eager[1.5] == Share(2, 6)
    assert eager[2.0] == Share(0, 6)  # 2.0 is not *more* than 2x
    assert compiled[1.0] == Share(1, 6)  # A 1.2 (its best passing attempt)
    assert compiled[1.5] == compiled[2.0] == Share(0, 6)
    assert result["geomean_speedup"]["eager"] == pytest.approx((2.0 * 0.5 * 1.6) ** (1 / 3))
    assert result["geomean_speedup"]["compiled"] == pytest.approx(math.sqrt(1.2 * 0.4))
    assert result["untimed_correct"] == {"eager": 0, "compiled": 1}  # C
    assert result["flags"] == {"no_custom_kernel": {"attempts": 1, "problems": 1}}
    assert result["first_correct"] == {"problems": 3, "median_s": 90, "mean_s": 90,
                                       "max_s": 120}
    # (1200 * 2 + 600 * 8) / 1e6
    assert result["tokens"] == {"prompt": 1200, "completion": 600, "total": 1800,
                                "requests": 4, "cost": pytest.approx(0.0072)}


def test_on_a_cpu_speed_is_not_measured_not_zero():
    result = summary(problems(gpu=False))
    assert result["speed_measured"] is False
    assert result["fast_p"]["eager"][0.0] == Share(3, 6)
    assert all(result["fast_p"][b][p] is None for b in ("eager", "compiled")
               for p in (1.0, 1.5, 2.0))
    assert result["geomean_speedup"] == {"eager": None, "compiled": None}
    assert result["untimed_correct"] is None
    assert result["tokens"]["cost"] is None


def test_scaling_curve_steps_at_each_attempt():
    curve = {round(p.minutes * 60): p for p in scaling_curve(problems(), until_minutes=5)}
    assert sorted(curve) == [0, 5, 10, 30, 60, 90, 120, 200, 300]
    assert curve[0].correct == 0 and curve[30].correct == 0
    assert curve[60].correct == pytest.approx(1 / 6)  # B
    assert curve[90].correct == pytest.approx(2 / 6)  # + A
    assert curve[120].correct == curve[300].correct == pytest.approx(3 / 6)  # + C
    assert curve[60].fast_1_eager == 0  # B is slower than eager
    assert curve[90].fast_1_eager == pytest.approx(1 / 6)
    assert curve[120].fast_1_eager == pytest.approx(2 / 6)
    assert curve[120].fast_1_compiled == pytest.approx(1 / 6)
    cpu = scaling_curve(problems(gpu=False))
    assert cpu[-1].minutes == pytest.approx(200 / 60), "ends at the last attempt"
    assert all(p.fast_1_eager is None and p.fast_1_compiled is None for p in cpu)


def test_empty_groups():
    assert summary([])["correct"] == Share(0, 0) and Share(0, 0).value is None
    only_bad = summary([ProblemResult("G", 1, "bad_input")])
    assert only_bad["counted"] == 0 and only_bad["fast_p"]["eager"][1.0] is None
    empty = scaling_curve([])
    assert len(empty) == 1 and empty[0].minutes == 0 and empty[0].correct is None
