"""Re-timing checks its contenders' outputs. The task itself refuses without a GPU, so its field
of contenders is built here on the CPU and called the way time_gpu calls them (each result handed
to the contender's `after` hook); tests/gpu/test_retime_gpu.py runs the task for real."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kernel_agent.tools.problem import Problem, Source, load_problem
from kernel_agent.tools.retime import DEFAULTS, REFERENCE, Field, build_field, tolerance
from kernel_agent.tools.timed_check import FLAG, TIMED_SETS

from ..conftest import DATA

PROBLEM = DATA / "scale_add_problem.py"

HEADER = "import torch\nfrom torch import nn\n\n\nclass ModelNew(nn.Module):\n"
HONEST = HEADER + "    def forward(self, x, b):\n        return 2 * x + b\n"
COUNTS_CALLS = HEADER + """    def __init__(self):
        super().__init__()
        self.calls, self.last = 0, None

    def forward(self, x, b):
        self.calls += 1
        if self.calls > 8 and self.last is not None:
            return self.last
        self.last = 2 * x + b
        return self.last
"""
SCRIBBLES = HEADER + """    def forward(self, x, b):
        out = 2 * x + b
        x.add_(1.0)
        return out
"""
SLIGHTLY_OFF = HEADER + "    def forward(self, x, b):\n        return 2 * x + b + 0.05\n"
BROKEN = HEADER + "    def __init__(self):\n        raise RuntimeError('no')\n"


def field_of(tmp_path: Path, **candidates: str | tuple[str, dict[str, float]]) -> Field:
    entries = []
    for key, given in candidates.items():
        text, tol = given if isinstance(given, tuple) else (given, None)
        entries.append({"id": key, "text": text, "path": f"{key}.py", "tolerance": tol})
    options = {**DEFAULTS, "problem": {"text": PROBLEM.read_text(), "path": str(PROBLEM)},
               "candidates": entries}
    return build_field(options, tmp_path, torch.device("cpu"))


def race(field: Field, rounds: int = 3, runs: int = 5) -> None:
    """Every contender called like time_gpu calls it, in rounds."""
    hooks = field.after()
    for _ in range(rounds):
        for key, call in field.calls.items():
            for _ in range(runs):
                result = call()
                if key in hooks:
                    hooks[key](result)


def test_a_candidate_that_stops_computing_after_its_first_calls_fails_by_name(tmp_path):
    field = field_of(tmp_path, honest=HONEST, counter=COUNTS_CALLS)
    assert list(field.calls) == [REFERENCE, "honest", "counter"]
    assert sorted(field.checked) == ["counter", "honest"]  # the reference is not checked
    race(field)
    assert all(len(calls.last) == TIMED_SETS for calls in field.checked.values())
    failed = field.failures()
    assert list(failed) == ["counter"]
    assert failed["counter"]["flag"] == FLAG
    assert "input set" in failed["counter"]["reason"]
    # its first 8 calls (the warm-up, then 7 of the race) were right; then set after set wrong
    assert "first, call 9 " in failed["counter"]["reason"]


def test_the_sets_are_fresh_shared_in_value_and_private_in_memory(tmp_path):
    field = field_of(tmp_path, first=HONEST, second=HONEST, scribbles=SCRIBBLES)
    first, second = field.checked["first"], field.checked["second"]
    for mine, theirs in zip(first.sets, second.sets, strict=True):
        assert torch.equal(mine.inputs[0], theirs.inputs[0])
        assert mine.inputs[0].data_ptr() != theirs.inputs[0].data_ptr()
        assert not mine.reference and not theirs.reference, "no answer exists before timing"
    assert not torch.equal(first.sets[0].inputs[0], first.sets[1].inputs[0])
    made_again = field_of(tmp_path / "again", first=HONEST).checked["first"]
    assert not torch.equal(made_again.sets[0].inputs[0], first.sets[0].inputs[0]), \
        "seeds drawn afresh for each re-timing"
    race(field)
    # writing into its own inputs makes its later outputs wrong, and nobody else's
    assert list(field.failures()) == ["scribbles"]
    assert all(torch.equal(mine.inputs[0], theirs.inputs[0])
               and torch.equal(mine.reference[0], theirs.reference[0])
               for mine, theirs in zip(first.sets, second.sets, strict=True))


def test_a_candidate_is_judged_within_the_tolerance_it_was_verified_with(tmp_path):
    loose = {"atol": 0.1, "rtol": 0.1}
    field = field_of(tmp_path, loose=(SLIGHTLY_OFF, loose), strict=SLIGHTLY_OFF)
    race(field, rounds=1, runs=2)
    assert list(field.failures()) == ["strict"]


def test_without_a_given_tolerance_the_problems_is_derived_like_the_verifiers(tmp_path):
    def problem(path: Path) -> Problem:
        return load_problem(Source(path.read_text(), str(path)), tmp_path / path.stem)

    plain, declared = problem(PROBLEM), problem(DATA / "problems" / "with_metadata.py")
    reference = [torch.randn(1000)]
    assert tolerance(None, plain, reference) == (1e-2, 1e-2)  # float32's default
    assert tolerance({"atol": None, "rtol": None}, declared, reference) == (1e-3, 1e-3)
    assert tolerance({"atol": 0.5, "rtol": 0.25}, plain, reference) == (0.5, 0.25)
    tiny = [torch.randn(1000) * 1e-4]  # zeros would pass atol 1e-2: scaled to the reference
    atol, rtol = tolerance(None, plain, tiny)
    assert rtol == 1e-2 and atol == pytest.approx(1e-2 * float(tiny[0].double().pow(2).mean()
                                                               .sqrt()))


def test_a_candidate_that_cannot_be_built_is_an_error_not_a_contender(tmp_path):
    field = field_of(tmp_path, honest=HONEST, broken=BROKEN)
    assert "RuntimeError: no" in field.errors["broken"]
    assert "broken" not in field.calls and "broken" not in field.checked
