"""The comparison rule on the values it treats apart: a reference that is Inf or NaN accepts only
that same value, complex outputs are judged by the modulus of the difference, integer and
boolean outputs exactly, and float64 outputs in float64. The verifier's whole path is checked
on a problem of each kind, a right kernel passing and a wrong one failing."""

from __future__ import annotations

import pytest
import torch

from kernel_agent.tools.check import check_files
from kernel_agent.tools.compare import compare, out_of_tolerance

from ..conftest import DATA

INF, NAN = float("inf"), float("nan")
CASES = DATA / "compare"


def test_an_infinite_reference_accepts_only_the_same_infinity() -> None:
    reference = torch.tensor([-INF, INF, -INF, INF, NAN, NAN, 1.0])
    candidate = torch.tensor([-INF, INF, 12345.0, -INF, NAN, 0.0, INF])
    assert out_of_tolerance(candidate, reference, 1e-2, 1e-2).tolist() == [
        False, False, True, True, False, True, True]
    trial = compare([candidate], [reference], 0, 1e-2, 1e-2)
    assert not trial.passed and trial.mismatched == 4


def test_complex_outputs_are_judged_on_both_parts() -> None:
    reference = torch.randn(64, dtype=torch.complex64)
    real_only = torch.complex(reference.real, torch.zeros(64))
    assert compare([real_only], [reference], 0, 1e-2, 1e-2).mismatched > 32
    close = reference + torch.complex(torch.full((64,), 1e-4), torch.full((64,), -1e-4))
    assert compare([close], [reference], 0, 1e-2, 1e-2).passed


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.uint8, torch.bool])
def test_integer_and_boolean_outputs_are_compared_exactly(dtype: torch.dtype) -> None:
    reference = torch.randint(0, 2 if dtype == torch.bool else 200, (500,)).to(dtype)
    candidate = reference.clone()
    candidate[-1] = ~candidate[-1] if dtype == torch.bool else candidate[-1] + 1
    trial = compare([candidate], [reference], 0, 1e-2, 1e-2)
    assert not trial.passed and trial.mismatched == 1 and trial.first_bad_index == [499]
    assert compare([reference.clone()], [reference], 0, 1e-2, 1e-2).passed


def test_int64_values_beyond_float64_precision_are_still_told_apart() -> None:
    reference = torch.tensor([2**60, 2**60 + 1])
    assert compare([torch.tensor([2**60 + 1, 2**60 + 1])], [reference], 0, 0.5, 0.5).mismatched == 1


def test_float64_outputs_are_compared_in_float64() -> None:
    reference = torch.randn(1000, dtype=torch.float64)
    trial = compare([reference * (1 + 1e-11)], [reference], 0, 0.0, 1e-13)
    assert not trial.passed and trial.mismatched == 1000
    assert trial.max_rel_error == pytest.approx(1e-11, rel=1e-3)
    assert compare([reference * (1 + 1e-14)], [reference], 0, 0.0, 1e-13).passed


@pytest.mark.parametrize(("problem", "right", "wrong"), [
    ("log_relu_problem.py", "log_relu_correct.py", "log_relu_finite_for_inf.py"),
    ("argmax_problem.py", "argmax_correct.py", "argmax_off_by_one.py"),
    ("triple_f64_problem.py", "triple_f64_correct.py", "triple_f64_off_by_a_hundred_rtol.py"),
    ("fft_problem.py", None, "fft_real_part_only.py"),
])
def test_the_verifier_passes_the_right_kernel_and_fails_the_wrong_one(
        problem: str, right: str | None, wrong: str) -> None:
    if right is not None:
        passed = check_files(CASES / problem, CASES / right, trials=2, timing=False)
        assert passed.status == "pass", passed.summary()
    failed = check_files(CASES / problem, CASES / wrong, trials=2, timing=False)
    assert failed.status == "fail" and failed.correct is False, failed.summary()
    assert failed.trials and not any(trial.passed for trial in failed.trials)
