"""`kernel-agent solve` with no model endpoint: the examples' kernels ship as seed memory, so a
fresh machine re-verifies the remembered kernel and answers, and says how to configure a model
for generating new ones. The seed file must match the examples it was built from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kernel_agent.tools.memory import SEED_FILE
from tests.conftest import ROOT

EXAMPLES = sorted((ROOT / "examples").glob("*/problem.py"))


def no_endpoint_env(home: Path) -> dict[str, str]:
    """A fresh user: no model settings, no keys, an empty home (so an empty cache)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("KERNEL_AGENT_") and not k.endswith("_API_KEY")
           and k not in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME")}
    return {**env, "HOME": str(home), "COLUMNS": "200"}


@pytest.mark.parametrize("problem", EXAMPLES, ids=lambda p: p.parent.name)
def test_the_seed_memory_holds_each_example_kernel(problem):
    lines = [json.loads(line) for line in SEED_FILE.read_text().splitlines()]
    entry = next(line for line in lines if line["problem_name"] == problem.parent.name)
    assert entry["problem_source"] == problem.read_text(), \
        "seed is stale: run python examples/build_seed_memory.py"
    assert entry["source"] == problem.with_name("kernel.py").read_text(), \
        "seed is stale: run python examples/build_seed_memory.py"
    assert entry["verdict"]["status"] == "pass"


def test_offline_solve_answers_from_the_seed_memory(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    example = ROOT / "examples" / "relative_position_attention"
    done = subprocess.run(
        [sys.executable, "-m", "kernel_agent.agent.cli", "solve", str(example / "problem.py"),
         "--out", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=300, env=no_endpoint_env(home), cwd=tmp_path)

    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "run" / "best_kernel.py").read_text() == (example / "kernel.py").read_text()
    out = done.stdout
    assert "looking" in out and "kernel memory" in out
    assert "remembered kernel re-verified on this machine" in out
    assert "Generating new kernels needs a model endpoint" in out and "NVIDIA_API_KEY" in out
    assert (home / ".cache" / "kernel-agent" / "memory.sqlite").exists()


def test_offline_solve_of_an_unknown_problem_says_how_to_configure_a_model(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "kernel_agent.agent.cli", "solve",
         str(ROOT / "tests" / "data" / "scale_add_problem.py")],
        capture_output=True, text=True, timeout=300, env=no_endpoint_env(home), cwd=tmp_path)

    assert done.returncode == 3, done.stdout + done.stderr
    assert "kernel memory holds no kernel for this problem" in done.stdout
    assert "NVIDIA_API_KEY" in done.stderr and "--base-url" in done.stderr
    assert not (tmp_path / "runs").exists()
