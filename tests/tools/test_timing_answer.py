"""The reference's answer for a timing set the candidate was timed on itself (a set too large to
keep is handed over without a copy): it comes from the set made again from its seed, so that
nothing the candidate does to the tensors it holds, before or after the verifier looks, reaches
the reference. On the CPU: the GPU timing around it is exercised in tests/gpu."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from kernel_agent.tools import integrity
from kernel_agent.tools.verify import PAYLOAD_DEFAULTS, Verification

from ..conftest import DATA

CANDIDATE = """
import torch
from torch import nn


class ModelNew(nn.Module):
    def forward(self, x, b):
        return 2 * x + b
"""
UNREPRODUCIBLE = """
import itertools

import torch
from torch import nn

SETS = itertools.count()


class Model(nn.Module):
    def forward(self, x, b):
        return 2 * x + b


def get_inputs():
    generator = torch.Generator().manual_seed(next(SETS))  # ignores the verifier's seed
    return [torch.randn(1000, generator=generator), torch.randn(1000, generator=generator)]


def get_init_inputs():
    return []
"""
SEED = 4321


def verification(tmp_path: Path, problem_text: str) -> Verification:
    options = {**PAYLOAD_DEFAULTS, "small": False,
               "problem": {"text": problem_text, "path": str(tmp_path / "problem.py")},
               "candidate": {"text": CANDIDATE, "path": str(tmp_path / "candidate.py")}}
    check = Verification(options, tmp_path)
    check.load_problem()
    check.take_snapshots()
    check.load_candidate()
    check.build_models()
    return check


def handed_over(check: Verification) -> tuple:
    entry = check.input_set(SEED, answered=False)
    before = integrity.Fingerprint.of(integrity.tensors(entry.inputs))
    given = check.timing_inputs(entry)
    assert all(a is b for a, b in zip(given, entry.inputs, strict=True)), "no copy"
    return entry, before, given


def expected(check: Verification) -> torch.Tensor:
    x, b = check.make_inputs(SEED)
    return 2 * x + b


def test_a_write_into_the_handed_over_set_is_flagged_and_the_answer_is_the_made_sets(tmp_path):
    check = verification(tmp_path, (DATA / "scale_add_problem.py").read_text())
    entry, before, given = handed_over(check)
    given[1].zero_()  # the candidate, while timed
    answer = check.timing_answer(SEED, entry, before)
    assert [f.name for f in check.flags] == ["inputs_modified"]
    assert torch.equal(answer[0], expected(check))


def test_a_write_after_the_check_does_not_reach_the_reference(tmp_path, monkeypatch):
    """A thread of the candidate's could change its set between the verifier's check and the
    reference's run; the reference never reads that set."""
    check = verification(tmp_path, (DATA / "scale_add_problem.py").read_text())
    entry, before, given = handed_over(check)
    make_inputs = check.make_inputs

    def racing(seed: int) -> list:
        given[0].fill_(7.0)  # lands after the check, before the reference runs
        return make_inputs(seed)

    monkeypatch.setattr(check, "make_inputs", racing)
    answer = check.timing_answer(SEED, entry, before)
    assert not check.flags
    assert torch.equal(answer[0], expected(check))


def test_inputs_not_reproducible_from_the_seed_are_answered_from_the_checked_set(tmp_path):
    check = verification(tmp_path, UNREPRODUCIBLE)
    entry, before, _ = handed_over(check)
    answer = check.timing_answer(SEED, entry, before)
    assert not check.flags
    x, b = entry.inputs
    assert torch.equal(answer[0], 2 * x + b)
    assert not torch.equal(answer[0], expected(check)), "a new set differs"


@pytest.fixture(autouse=True)
def not_resident(monkeypatch):
    """Nothing is kept outside a resident process: every set is handed over."""
    from kernel_agent.sandbox.resident import MARK
    monkeypatch.delenv(MARK, raising=False)
