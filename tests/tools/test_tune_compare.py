"""The tuner's last word: a variant beats the original only if it was faster in so many of their
interleaved rounds that chance would rarely give that, and by a share worth a change. The rule
is checked on round medians; the re-timing task on this machine (no GPU) must decide nothing,
and a kernel whose output the re-timing found wrong loses."""

from __future__ import annotations

import pytest

from kernel_agent.sandbox import Limits, Sandbox, TaskResult
from kernel_agent.tools.tune_compare import (
    RETIME_TASK,
    compare_interleaved,
    decide,
    rounds_needed,
)

from ..conftest import DATA


def test_a_variant_that_the_sweep_favoured_but_interleaving_does_not_is_not_chosen():
    # The H100 case: alone, the variant timed 2.383 ms against 2.428 ms; interleaved, it is not
    # faster than the original.
    comparison = decide([2.409, 2.411, 2.406, 2.414, 2.410],
                        [2.417, 2.415, 2.420, 2.414, 2.418], "NVIDIA H100 80GB HBM3")
    assert comparison.measured and not comparison.faster
    assert comparison.original_ms == 2.410 and comparison.variant_ms == 2.417
    assert comparison.original_spread_ms == pytest.approx(0.008)
    assert comparison.variant_spread_ms == pytest.approx(0.006)
    assert comparison.rounds == 5 and comparison.device == "NVIDIA H100 80GB HBM3"
    assert comparison.reason == (
        "re-timed interleaved over 5 rounds: variant 2.417 ms (spread 0.006 ms) vs the "
        "original's 2.41 ms (spread 0.008 ms); faster in 0 of 5 rounds, not beyond chance "
        "(5 needed): the original is kept")


def test_rounds_needed_is_a_one_sided_sign_test_at_five_percent():
    assert [rounds_needed(n) for n in (0, 3, 4, 5, 8, 10, 20)] == [None, None, None, 5, 7, 9, 15]


def test_one_disturbed_round_does_not_hide_a_variant_faster_in_every_other():
    # The H100 case of relative-position attention at D=64: the variant faster in every round,
    # the original's spread widened by one slow round to more than the gap between the medians.
    original = [1.42, 1.43, 1.41, 1.42, 1.52, 1.42, 1.43, 1.42, 1.41, 1.42]
    variant = [1.37, 1.38, 1.36, 1.37, 1.37, 1.38, 1.37, 1.36, 1.37, 1.37]
    comparison = decide(original, variant)
    assert comparison.original_spread_ms > comparison.original_ms - comparison.variant_ms
    assert comparison.faster, comparison.reason
    assert "in 10 of 10 rounds: beyond chance (9 needed)" in comparison.reason
    assert comparison.speedup == pytest.approx(1.42 / 1.37)
    assert comparison.to_dict()["variant_rounds_ms"] == variant


def test_a_variant_must_win_beyond_chance_and_by_a_share_worth_a_change():
    original = [1.0] * 10
    by_chance = decide(original, [0.95] * 8 + [1.05] * 2)  # 8 of 10: chance, one time in 18
    assert by_chance.measured and not by_chance.faster
    assert "faster in 8 of 10 rounds, not beyond chance (9 needed)" in by_chance.reason
    slight = decide(original, [0.995] * 10)  # every round, but by half a per cent
    assert not slight.faster and "by 0.5%, under the 1%" in slight.reason
    few = decide([1.0, 1.0, 1.0], [0.5, 0.5, 0.5])
    assert not few.faster and "3 rounds cannot show a difference" in few.reason
    nothing = decide([], [1.0])
    assert not nothing.measured and not nothing.faster


def test_without_a_gpu_the_re_timing_decides_nothing(sandbox: Sandbox):
    problem = DATA / "scale_add_problem.py"
    kernel = DATA / "tuning" / "scale_add_block16.py"
    source = {"text": kernel.read_text(), "path": kernel.name}
    comparison = compare_interleaved({"text": problem.read_text(), "path": str(problem)},
                                     source, source, sandbox=sandbox)
    assert not comparison.measured and not comparison.faster
    assert comparison.reason == "not measured: no GPU"
    assert comparison.original_ms is None and comparison.speedup is None


class RetimeAnswers:
    """A sandbox whose re-timing task returns a given value and keeps the payloads."""

    name = "retime-answers"

    def __init__(self, value: dict) -> None:
        self.value, self.payloads = value, []

    def run(self, task: str, payload: dict, limits: Limits | None = None) -> TaskResult:
        assert task == RETIME_TASK
        self.payloads.append(payload)
        return TaskResult(value=self.value)

    def close(self) -> None:
        pass


def test_a_kernel_wrong_while_re_timed_is_named_and_nothing_is_decided():
    rounds = {"round_medians_ms": [0.5] * 3, "median_ms": 0.5}
    wrong = {"flag": "timed_output_wrong", "reason": "3 of 40 calls returned a wrong output"}
    answers = RetimeAnswers({"measured": True, "device": "gpu", "rounds": 3, "errors": {},
                             "results": {"original": {**rounds, "round_medians_ms": [1.0] * 3}},
                             "failed": {"variant": wrong}})
    tolerance = {"atol": 0.02, "rtol": 0.02}
    comparison = compare_interleaved(
        {"text": "", "path": "problem.py"}, {"text": "a", "path": "a.py", "tolerance": tolerance},
        {"text": "b", "path": "b.py", "tolerance": tolerance}, sandbox=answers)
    assert not comparison.faster and not comparison.measured
    named = "timed_output_wrong: 3 of 40 calls returned a wrong output"
    assert comparison.failed == {"variant": named}
    assert comparison.reason == f"wrong output while re-timed (variant: {named})"
    assert [c["tolerance"] for c in answers.payloads[0]["candidates"]] == [tolerance] * 2
