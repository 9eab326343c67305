"""Checking the outputs of timed calls, on CPU tensors: honest candidates pass, candidates whose
output depends on how often or when they are called are caught with a named flag."""

from __future__ import annotations

import re

import torch

from kernel_agent.tools.timed_check import FLAG, InputSet, TimedCalls


def scale_add(x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return 2 * x + b


def input_sets(count: int = 3, n: int = 10_000) -> list[InputSet]:
    sets = []
    for seed in range(count):
        torch.manual_seed(100 + seed)
        inputs = [torch.randn(n), torch.randn(n)]
        sets.append(InputSet(inputs, [scale_add(*inputs)]))
    return sets


def run(calls: TimedCalls, times: int) -> TimedCalls:
    for _ in range(times):
        calls.record(calls())
    return calls


def test_honest_calls_on_rotating_sets_raise_no_flag() -> None:
    calls = run(TimedCalls(input_sets(), scale_add, 1e-2, 1e-2, seed=1), 10)
    assert sorted(calls.last) == [0, 1, 2], "every set was used and its last output kept"
    assert calls.flag() is None
    assert not calls.last, "each last output let go once judged"
    assert all(r.samples[0].numel() == 4096 for r in calls.records)


def test_a_candidate_that_stops_working_after_its_checked_calls_is_flagged() -> None:
    state = {"calls": 0, "last": None}

    def counts_calls(x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        state["calls"] += 1
        if state["calls"] > 4:
            return state["last"]
        state["last"] = scale_add(x, b)
        return state["last"]

    calls = run(TimedCalls(input_sets(), counts_calls, 1e-2, 1e-2, seed=2), 9)
    flag = calls.flag()
    assert flag is not None and flag.name == FLAG and flag.severity == "reject"
    # Calls 5 to 9 replay call 4's answer (set 0); call 7 is on set 0 again, so it is right.
    assert "4 of 9 calls" in flag.reason and "first, call 5 on input set 1" in flag.reason


def test_a_wrong_last_call_is_caught_even_where_no_sample_lands() -> None:
    def wrong_in_one_element(x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        out = scale_add(x, b)
        out[-1] += 100.0
        return out

    sets = input_sets(n=1 << 16)
    calls = run(TimedCalls(sets, wrong_in_one_element, 1e-2, 1e-2, seed=3), 3)
    hit = any(bool((s.positions[0] == (1 << 16) - 1).any()) for s in sets)
    flag = calls.flag()
    assert flag is not None
    assert hit or "last output on input set" in flag.reason


def test_zeros_and_wrong_shapes_are_wrong_outputs() -> None:
    zeros = run(TimedCalls(input_sets(), lambda x, b: torch.zeros_like(x), 1e-2, 1e-2), 3)
    wrong = re.search(r"(\d+)/4096 sampled elements", zeros.flag().reason)
    assert wrong and int(wrong[1]) > 4000, "only elements whose reference is near 0 pass"
    short = run(TimedCalls(input_sets(), lambda x, b: scale_add(x, b)[:-1], 1e-2, 1e-2), 3)
    assert "expected" in short.flag().reason


def test_each_call_gets_fresh_tensor_objects_over_the_same_storage() -> None:
    seen: list[torch.Tensor] = []

    def remembers(x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        seen.append(x)
        return scale_add(x, b)

    sets = input_sets(count=1)
    run(TimedCalls(sets, remembers, 1e-2, 1e-2), 2)
    assert seen[0] is not seen[1] and seen[0] is not sets[0].inputs[0]
    assert seen[0].data_ptr() == seen[1].data_ptr() == sets[0].inputs[0].data_ptr()


def test_references_may_come_after_the_calls_and_judge_them_the_same() -> None:
    """The verifier computes the reference's outputs only after the timed calls, so that none
    exists while the candidate runs; the calls are judged exactly as with references given
    first."""
    answered = input_sets()
    unanswered = [InputSet(s.inputs) for s in answered]
    seen: list[int] = []

    def counts_calls(x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        seen.append(sum(bool(s.reference) for s in unanswered))
        return scale_add(x, b) if len(seen) <= 4 else torch.zeros_like(x)

    calls = run(TimedCalls(unanswered, counts_calls, 1e-2, 1e-2, seed=2), 9)
    assert seen == [0] * 9, "no reference existed during any call"
    calls.add_references([s.reference for s in answered])
    flag = calls.flag()
    assert flag is not None and "5 of 9 calls" in flag.reason, flag
    honest = run(TimedCalls([InputSet(s.inputs) for s in answered], scale_add, 1e-2, 1e-2), 6)
    honest.add_references([s.reference for s in answered])
    assert honest.flag() is None


def test_an_output_changing_size_between_calls_on_one_set_is_wrong() -> None:
    state = {"calls": 0}

    def shrinks(x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        state["calls"] += 1
        return scale_add(x, b)[: -(state["calls"] // 4) or None]

    calls = run(TimedCalls(input_sets(), shrinks, 1e-2, 1e-2, seed=4), 9)
    flag = calls.flag()
    assert flag is not None and "6 of 9 calls" in flag.reason, flag
    assert "first, call 4 on input set 0" in flag.reason and "unlike its first call" in flag.reason


def test_references_computed_one_at_a_time_never_meet_every_output() -> None:
    """A multi-gigabyte problem's references are computed set by set after the timing: by the
    time one is computed, the sets before it are judged and their outputs and references gone,
    so at most one set's reference and the unjudged sets' outputs are alive at once."""
    answered = input_sets()
    calls = run(TimedCalls([InputSet(s.inputs) for s in answered], scale_add, 1e-2, 1e-2), 7)
    alive: list[tuple[int, int]] = []

    def on_demand():
        for number, made in enumerate(answered):
            alive.append((len(calls.last), sum(bool(s.reference) for s in calls.sets)))
            yield [scale_add(*made.inputs)] if number != 1 else [torch.zeros(10_000)]

    calls.add_references(on_demand(), keep=False)
    assert alive == [(3, 0), (2, 0), (1, 0)]
    assert not calls.last and not any(s.reference for s in calls.sets)
    flag = calls.flag()
    assert flag is not None and "input set 1" in flag.reason, "judged from what was kept"
    assert "2 of 7 calls" in flag.reason  # calls 2 and 5 were on set 1
