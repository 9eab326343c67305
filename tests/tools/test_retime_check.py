"""Re-timing checks its finalists, each in a process of its own. Timing itself needs a GPU
(tests/gpu/test_retime_gpu.py runs the task for real); here, on the CPU, the finalist's side
(tools/contender.py) is called the way time_gpu calls it, and the re-timing's own side builds
finalists in real candidate processes, checks what they report and races them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from kernel_agent.tools.contender import Contender
from kernel_agent.tools.judge import ZYGOTE
from kernel_agent.tools.problem import Problem, Source, load_problem
from kernel_agent.tools.race import FLAG as DISPUTED
from kernel_agent.tools.retime import DEFAULTS, Retiming, rotations, tolerance
from kernel_agent.tools.timed_check import FLAG, TIMED_SETS
from kernel_agent.tools.tolerance import atol_of

from ..conftest import DATA

PROBLEM = DATA / "scale_add_problem.py"
PROBLEM_SOURCE = {"text": PROBLEM.read_text(), "path": str(PROBLEM)}
SEEDS = [11, 22, 33]

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
# Right on the first input it sees (its warm-up, on a timing set) and on that input again, known
# by its first value; zeros on any other.
KNOWS_ITS_INPUTS = HEADER + """    def __init__(self):
        super().__init__()
        self.known = set()

    def forward(self, x, b):
        key = float(x[0])
        if not self.known or key in self.known:
            self.known.add(key)
            return 2 * x + b
        return torch.zeros_like(x)
"""
# A cost its process pays once, when the race's first set comes (on a GPU: the caching allocator
# growing again after the process emptied it for the judge); its construction made the first call.
PAUSES_ONCE = HEADER + """    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, x, b):
        import time
        self.calls += 1
        if self.calls == 2:
            time.sleep(0.3)
        return 2 * x + b
"""
SLOW = HEADER + """    def forward(self, x, b):
        import time
        time.sleep(0.02)
        return 2 * x + b
"""


def contender(tmp_path: Path, text: str, seeds: list[int] = SEEDS) -> Contender:
    return Contender({"problem": PROBLEM_SOURCE, "candidate": {"text": text, "path": "c.py"},
                      "seed": DEFAULTS["seed"], "set_seeds": seeds}, tmp_path)


def timed_like_time_gpu(finalist: Contender, rounds: int = 3, runs: int = 5) -> None:
    for _ in range(rounds * runs):
        finalist.calls.record(finalist.calls())


def test_a_candidate_that_stops_computing_after_its_first_calls_fails_by_name(tmp_path):
    honest, counter = contender(tmp_path / "h", HONEST), contender(tmp_path / "c", COUNTS_CALLS)
    for finalist in (honest, counter):
        timed_like_time_gpu(finalist)
        assert len(finalist.calls.last) == TIMED_SETS
    assert honest.check(1e-2, 1e-2) is None
    flag = counter.check(1e-2, 1e-2)
    assert flag is not None and flag.name == FLAG
    # its first 8 calls (the warm-up, then 7 timed) were right; then set after set wrong
    assert "input set" in flag.reason and "first, call 9 " in flag.reason


def test_finalists_get_the_same_sets_from_the_same_seeds_and_fresh_ones_from_new_seeds(tmp_path):
    first, second = contender(tmp_path / "a", HONEST), contender(tmp_path / "b", HONEST)
    other = contender(tmp_path / "c", HONEST, seeds=[44, 55, 66])
    for mine, theirs, fresh in zip(first.calls.sets, second.calls.sets, other.calls.sets,
                                   strict=True):
        assert torch.equal(mine.inputs[0], theirs.inputs[0])
        assert not torch.equal(mine.inputs[0], fresh.inputs[0])
        assert not mine.reference, "no answer exists before the check"
    assert not torch.equal(first.calls.sets[0].inputs[0], first.calls.sets[1].inputs[0])


def test_writing_into_its_inputs_makes_its_own_outputs_wrong(tmp_path):
    scribbles = contender(tmp_path, SCRIBBLES)
    timed_like_time_gpu(scribbles)
    flag = scribbles.check(1e-2, 1e-2)
    assert flag is not None and flag.name == FLAG


def test_a_candidate_is_judged_within_the_tolerance_it_is_given(tmp_path):
    loose, strict = contender(tmp_path / "l", SLIGHTLY_OFF), contender(tmp_path / "s", SLIGHTLY_OFF)
    timed_like_time_gpu(loose, rounds=1, runs=2)
    timed_like_time_gpu(strict, rounds=1, runs=2)
    assert loose.check(0.1, 0.1) is None
    assert strict.check(1e-2, 1e-2) is not None


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
    assert rtol == 1e-2 and atol_of(atol, 0) == pytest.approx(
        1e-2 * float(tiny[0].double().pow(2).mean().sqrt()))
    given = {"atol": 1e-2, "atol_by_output": {"1": 1e-6}, "rtol": 1e-2}  # as a verdict keeps it
    atol, _ = tolerance(given, plain, reference)
    assert (atol_of(atol, 0), atol_of(atol, 1)) == (1e-2, 1e-6)


def test_every_contender_leads_a_round_in_turn():
    assert list(rotations(["eager", "a", "b"], 4)) == [
        ["eager", "a", "b"], ["a", "b", "eager"], ["b", "eager", "a"], ["eager", "a", "b"]]


# -- the re-timing's side, with finalists in real candidate processes --------------------------

@pytest.fixture
def zygote():
    ZYGOTE.start()
    yield ZYGOTE
    ZYGOTE.stop()


def retiming(tmp_path: Path, **candidates: str) -> Retiming:
    options = {**DEFAULTS, "problem": PROBLEM_SOURCE,
               "candidates": [{"id": key, "text": text, "path": f"{key}.py"}
                              for key, text in candidates.items()]}
    made = Retiming(options, tmp_path)
    made.referee.load_problem()
    made.referee.build_reference()
    return made


def test_each_finalist_runs_in_a_process_of_its_own_and_a_broken_one_is_an_error(zygote, tmp_path):
    retime = retiming(tmp_path, honest=HONEST, broken=BROKEN)
    with retime.finalists(SEEDS) as children:
        assert list(children) == ["honest"]
        assert "RuntimeError: no" in retime.errors["broken"]
        pids = {child.pid for child in children.values()}
    assert pids and not pids & {0, os.getpid()}


def test_a_finalist_that_cannot_time_drops_out_of_the_rounds_with_why(zygote, tmp_path):
    retime = retiming(tmp_path, honest=HONEST)
    with retime.finalists(SEEDS) as children:
        medians = retime.rounds({"honest": retime.remote_round(children["honest"]),
                                 "steady": lambda: 1.0})
    # on the CPU its process cannot time on a GPU: that is its reply, and it is out
    assert medians == {"steady": [1.0] * DEFAULTS["rounds"]}
    assert retime.errors["honest"].startswith("while re-timed: ")


@pytest.mark.parametrize(("text", "claimed_ms", "failed"), [
    (HONEST, 5.0, None),
    (COUNTS_CALLS, 0.5, FLAG),  # stale answers from its 9th call: the race's 40 calls see them
    (KNOWS_ITS_INPUTS, 5.0, FLAG),  # right on the timing sets, wrong on the race's fresh ones
    (SLOW, 0.5, DISPUTED),  # 20 ms a call, claiming 0.5 ms
    (SLOW, 25.0, None),  # the same kernel, claiming what it takes
    (PAUSES_ONCE, 5.0, None),  # the race's untimed first set takes the one-time cost
])
def test_a_finalists_word_is_checked_before_its_time_counts(zygote, tmp_path, text, claimed_ms,
                                                           failed):
    retime = retiming(tmp_path, finalist=text)
    with retime.finalists(SEEDS) as children:
        retime.judge("finalist", children["finalist"], claimed_ms, 1e-2, 1e-2)
    if failed is None:
        assert not retime.failed and not retime.errors
        assert retime.raced["finalist"]["race_calls"] >= 3
    else:
        assert retime.failed["finalist"]["flag"] == failed, retime.failed


def test_a_finalist_that_answers_for_itself_among_rivals_is_raced_and_disputed(zygote, tmp_path):
    """It took its process over once it found itself built as a finalist: it claims 1 us a
    round and a clean check. Its real 20 ms a call shows in the race."""
    forger = DATA / "candidates" / "forges_retime.py"
    options = {**DEFAULTS, "problem": PROBLEM_SOURCE, "reference": False, "rounds": 2,
               "candidates": [{"id": "forger", "text": forger.read_text(), "path": str(forger)}]}
    result = Retiming(options, tmp_path).result()
    assert result["measured"] and result["results"] == {}
    assert result["failed"]["forger"]["flag"] == DISPUTED, result
    assert "0.001 ms per call" in result["failed"]["forger"]["reason"]
