"""A verification's wall limit fits the problem: derived from the reference's own run time plus
an allowance, stated in the verdict, given limits win, and the time left caps it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from kernel_agent.sandbox import Sandbox
from kernel_agent.tools.check import REFERENCE_RUN, BaselineCache, verify_sources
from kernel_agent.tools.wall_limit import WallLimit, WallPolicy, derived, given, within
from tests.conftest import DATA

PROBLEM = DATA / "scale_add_problem.py"
CORRECT = DATA / "scale_add_correct.py"
LOOPING = """\
import torch
from torch import nn


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        while True:
            pass
"""
SMALL = WallPolicy(cpu_allowance_s=2.0, factor=2.0, floor_s=1.0, ceiling_s=30.0)


def problem() -> dict[str, str]:
    return {"text": PROBLEM.read_text(), "path": str(PROBLEM)}


def looping() -> dict[str, str]:
    return {"text": LOOPING, "path": "looping.py"}


def test_the_limit_is_allowance_plus_reference_runs_within_floor_and_ceiling():
    policy = WallPolicy()
    cpu = derived(0.5, gpu=False)
    assert cpu.seconds == policy.cpu_allowance_s + policy.factor * 0.5
    assert "reference run" in cpu.how and "0.5 s" in cpu.how and "interpreter" in cpu.how
    assert derived(0.5, gpu=True).seconds == policy.gpu_allowance_s + policy.factor * 0.5
    assert derived(0.25, gpu=False, policy=SMALL).seconds == SMALL.cpu_allowance_s + 0.5
    assert derived(0.0, gpu=False, policy=WallPolicy(cpu_allowance_s=5)).seconds == 30.0
    assert "ceiling" in derived(100.0, gpu=True).how and derived(100.0, gpu=True).seconds == 600
    assert derived(None, gpu=False).seconds == 600 and "unknown" in derived(None, False).how
    assert within(WallLimit(60, "x"), 12.34).seconds == 12.3
    assert "left in the search" in within(WallLimit(60, "x"), 12.34).how
    assert within(WallLimit(60, "x"), -5).seconds == 1.0
    assert within(given(3), None) == WallLimit(3, "3 s, as given")


def test_a_looping_candidate_times_out_within_the_derived_limit(sandbox: Sandbox,
                                                               tmp_path: Path):
    cache = BaselineCache(tmp_path)
    started = time.monotonic()
    verdict = verify_sources(problem(), looping(), sandbox=sandbox, baselines=cache,
                             policy=SMALL)
    took = time.monotonic() - started
    reference_s = cache.load(problem()["text"])[REFERENCE_RUN]["seconds"]
    limit = verdict.wall_limit["seconds"]
    assert limit == round(SMALL.cpu_allowance_s + SMALL.factor * reference_s, 1)
    assert verdict.status == "fail" and verdict.error is not None
    assert verdict.error.kind == "timeout"
    assert f"{limit:g} s wall-clock limit" in verdict.error.message
    assert "reference run" in verdict.error.message
    assert took < reference_s + limit + 10
    again = verify_sources(problem(), {"text": CORRECT.read_text(), "path": "c.py"},
                           sandbox=sandbox, baselines=cache, policy=SMALL)
    assert again.passed and again.wall_limit["seconds"] == limit, "the reference ran once"


def test_the_time_left_in_a_search_caps_the_limit(sandbox: Sandbox, tmp_path: Path):
    started = time.monotonic()
    verdict = verify_sources(problem(), looping(), sandbox=sandbox,
                             baselines=BaselineCache(tmp_path), deadline=time.time() + 3)
    assert verdict.error is not None and verdict.error.kind == "timeout"
    assert verdict.wall_limit["seconds"] <= 3
    assert "left in the search's budget" in verdict.error.message
    assert time.monotonic() - started < 15


def run_check(*args: str | Path, cache: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "kernel_agent.agent.cli", "check", *map(str, args)]
    env = {**os.environ, "COLUMNS": "400", "KERNEL_AGENT_CACHE": str(cache)}
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


def test_check_derives_its_limit_and_a_given_timeout_wins(tmp_path: Path):
    passed = run_check(PROBLEM, CORRECT, "--json", cache=tmp_path / "cache")
    assert passed.returncode == 0, passed.stderr
    wall = json.loads(passed.stdout)["wall_limit"]
    assert wall["seconds"] < 600 and "reference run" in wall["how"]

    candidate = tmp_path / "looping.py"
    candidate.write_text(LOOPING)
    started = time.monotonic()
    stopped = run_check(PROBLEM, candidate, "--json", "--timeout", "3",
                        cache=tmp_path / "cache")
    assert stopped.returncode == 1, stopped.stderr
    assert time.monotonic() - started < 60
    verdict = json.loads(stopped.stdout)
    assert verdict["error"]["kind"] == "timeout"
    assert verdict["wall_limit"] == {"seconds": 3.0, "how": "3 s, as given"}
    assert "as given" in verdict["error"]["message"]
