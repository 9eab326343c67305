"""Several workers decide exactly what one worker decides, and each of them takes part.

The one-worker run goes through `kernel-agent eval --gpus cpu --workers 1`, as a user runs it;
the three-worker run through `launch` with `cpu_workers=3` (what `--workers 3` builds), its
workers started before the run begins (see parallel.py), so that all three find work.
"""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from kernel_agent.agent.cli import app
from kernel_agent.evals.launch import EvalOptions, launch

from .conftest import CANDIDATES, EXPECTED, SUITE, run_cli
from .parallel import LAUNCH, decisions, started_first, workers_of

WORKERS = 3


def test_three_workers_decide_what_one_worker_decides(tmp_path: Path, monkeypatch):
    single = tmp_path / "one"
    done = run_cli("eval", SUITE, "--candidates", CANDIDATES, "--gpus", "cpu", "--workers", "1",
                   "--out", single)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 worker(s)" in done.stdout
    one = decisions(single)
    # the reference run is the hand-derived one, so the comparison below is not vacuous
    assert {problem: (outcome, attempts[0][0] if attempts else None,
                      list(attempts[0][3]) if attempts else [],
                      attempts[0][4] if attempts else None)
            for problem, (outcome, attempts) in one.items()} == {
        problem: (e[0], e[1], sorted(e[5]), e[6]) for problem, e in EXPECTED.items()}
    assert set(workers_of(single).values()) == {"cpu0"}

    monkeypatch.setattr(LAUNCH, "make_sandboxes", started_first)
    several = tmp_path / "three"
    launch(EvalOptions(suite=str(SUITE), out=several, candidates=CANDIDATES, gpus=[],
                       cpu_workers=WORKERS))
    assert decisions(several) == one
    ran_by = workers_of(several)
    assert set(ran_by.values()) == {f"cpu{i}" for i in range(WORKERS)}, ran_by


def test_a_run_needs_at_least_one_worker(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # the message unwrapped
    result = CliRunner().invoke(app, ["eval", str(SUITE), "--candidates", str(CANDIDATES),
                                      "--gpus", "cpu", "--workers", "0",
                                      "--out", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--workers'" in result.output
    assert "greater than or equal to 1" in result.output
    assert not (tmp_path / "run").exists()
