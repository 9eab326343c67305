"""The phase clock: nested phases are counted once, the host's phases come from the task's clock,
and a real verification reports where its time went."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kernel_agent.sandbox import Sandbox
from kernel_agent.tools.check import BaselineCache, check_files
from kernel_agent.tools.phases import ORDER, PhaseClock, with_host_phases

ROOT = Path(__file__).resolve().parents[2]


def test_a_nested_phase_pauses_the_one_around_it() -> None:
    clock = PhaseClock()
    with clock.phase("correctness_trials"):
        time.sleep(0.05)
        with clock.phase("reference_outputs"):
            time.sleep(0.1)
        time.sleep(0.05)
    seconds = clock.seconds
    assert 0.09 <= seconds["reference_outputs"] < 0.15
    assert 0.09 <= seconds["correctness_trials"] < 0.15  # its own 0.1 s, not the nested 0.1 s


def test_sync_runs_after_a_clean_phase_only() -> None:
    synced = []
    clock = PhaseClock(sync=lambda: synced.append(True))
    with clock.phase("inputs"):
        pass
    with pytest.raises(ValueError), clock.phase("timing"):
        raise ValueError("a failure must surface as it is, not as the sync's error")
    assert synced == [True]
    assert clock.stack == [] and "timing" in clock.seconds


def test_host_phases_split_the_wall_time_around_the_task() -> None:
    clock = {"started": 100.5, "resolved": 100.7, "finished": 103.0}
    phases = with_host_phases({"imports": 0.1, "timing": 1.0}, clock, sent=100.0,
                              received=103.25)
    assert phases == {"sandbox_handoff": 0.5, "imports": 0.3, "timing": 1.0,
                      "result_transfer": 0.25}
    assert list(phases) == sorted(phases, key=ORDER.index)
    assert with_host_phases({"timing": 1.0}, {}, 0.0, 1.0) == {"timing": 1.0}


def test_a_verdict_says_where_its_time_went(sandbox: Sandbox, tmp_path: Path) -> None:
    problem = ROOT / "benchmarks/problems/softmax"
    started = time.perf_counter()
    verdict = check_files(problem / "problem.py", problem / "kernel.py", sandbox=sandbox,
                          baselines=BaselineCache(tmp_path))
    wall = time.perf_counter() - started
    assert verdict.passed, verdict.summary()
    phases = verdict.phases
    for name in ("sandbox_handoff", "imports", "load_problem", "load_candidate", "build_models",
                 "inputs", "reference_outputs", "first_call", "correctness_trials",
                 "static_review", "result_transfer"):
        assert phases[name] >= 0.0, name
    assert phases["first_call"] > 0.0 and phases["correctness_trials"] > 0.0
    assert set(phases) <= set(ORDER)
    assert verdict.elapsed_s <= sum(phases.values()) <= wall  # the parts never exceed the whole
