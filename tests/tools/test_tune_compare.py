"""The tuner's last word: a variant beats the original only by more than the spread of their
interleaved re-timing. The rule is checked on round medians; the re-timing task on this machine
(no GPU) must decide nothing, and a kernel whose output the re-timing found wrong loses."""

from __future__ import annotations

import pytest

from kernel_agent.sandbox import Limits, Sandbox, TaskResult
from kernel_agent.tools.tune_compare import RETIME_TASK, compare_interleaved, decide

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
        "original's 2.41 ms (spread 0.008 ms); not faster beyond the larger spread (0.008 ms): "
        "the original is kept")


def test_the_gain_must_exceed_the_larger_of_the_two_spreads():
    within = decide([1.0, 1.01, 1.02], [0.99, 0.995, 1.0])  # 0.015 ms gain, spreads 0.02, 0.01
    assert within.measured and not within.faster
    tie = decide([1.0, 1.25, 1.5], [0.75, 0.75, 0.75])  # gain 0.5, exactly the larger spread
    assert not tie.faster
    beyond = decide([1.0, 1.02, 1.01], [0.9, 0.91, 0.905])
    assert beyond.faster and beyond.speedup == pytest.approx(1.01 / 0.905)
    assert "faster by 0.105 ms, beyond the larger spread (0.02 ms)" in beyond.reason
    assert beyond.to_dict()["speedup"] == beyond.speedup
    assert beyond.to_dict()["variant_rounds_ms"] == [0.9, 0.91, 0.905]
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
