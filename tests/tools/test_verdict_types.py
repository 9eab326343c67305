"""Reading a verdict from a process that ran candidate code: every field of the type it names,
or a ValueError that says which field is not."""

from __future__ import annotations

import json

import pytest

from kernel_agent.tools.verdict import ErrorInfo, Flag, Stats, Timing, Trial, Verdict, typed


def full_verdict() -> Verdict:
    return Verdict(status="pass", stage="done", compiled=True, correct=True,
                   error=ErrorInfo("k", "m", line=3),
                   trials=[Trial(seed=1, passed=True, worst_index=[1, 2], candidate_value=1.5,
                                 bad_region=[[0, 3]])],
                   flags=[Flag("speedup", "fast", "review")],
                   timing=Timing(candidate=Stats(1.0, 0.1, 10, 0.9), speedup_eager=2.0),
                   device={"name": "x", "count": [1]}, tolerance={"atol": 0.01})


def test_a_verdict_sent_as_json_reads_back_the_same() -> None:
    verdict = full_verdict()
    assert typed(Verdict, json.loads(json.dumps(verdict.to_dict()))) == verdict


def test_a_whole_number_stands_for_a_float_and_none_for_an_optional_field() -> None:
    data = {**full_verdict().to_dict(), "elapsed_s": 3, "error": None, "timing": None}
    verdict = typed(Verdict, data)
    assert verdict.elapsed_s == 3.0 and isinstance(verdict.elapsed_s, float)
    assert verdict.error is None and verdict.timing is None


@pytest.mark.parametrize(("change", "said"), [
    ({"status": "great"}, "verdict.status is str 'great'"),
    ({"correct": 1}, "verdict.correct is int"),
    ({"elapsed_s": True}, "verdict.elapsed_s is bool"),
    ({"error": {"kind": "x", "message": 5}}, "verdict.error.message is int"),
    ({"trials": [{"seed": 1, "passed": True, "worst_index": ["a"]}]},
     "verdict.trials[0].worst_index[0] is str"),
    ({"trials": [{"passed": True}]}, "verdict.trials[0]: "),
    ({"flags": [{"name": "n", "reason": "r", "severity": "fatal"}]}, "verdict.flags[0].severity"),
    ({"tolerance": {"atol": "1e-2"}}, "verdict.tolerance.atol is str"),
    ({"timing": {"candidate": {"median_ms": 1.0}}}, "verdict.timing.candidate: "),
    ({"extra": 1}, "verdict has no field 'extra'"),
])
def test_a_field_of_another_type_is_named(change: dict, said: str) -> None:
    with pytest.raises(ValueError, match=None) as refused:
        typed(Verdict, {**full_verdict().to_dict(), **change})
    assert said in str(refused.value)


def test_what_is_not_an_object_is_no_verdict() -> None:
    with pytest.raises(ValueError, match="verdict is list"):
        typed(Verdict, [])
