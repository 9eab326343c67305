"""What `kernel-agent solve` checks before a search starts: budget, problem, run directory,
resume target and the `--backend` narrowing of the problem's metadata."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from kernel_agent.agent.solve_setup import (
    SolveInputError,
    SolveRequest,
    plan_solve,
    restrict_backends,
)
from kernel_agent.graphs.problem_file import backends_of, metadata
from kernel_agent.graphs.rundir import RunDir
from tests.conftest import DATA, EXAMPLES

PROBLEM = DATA / "scale_add_problem.py"
RMSNORM = EXAMPLES / "rmsnorm" / "problem.py"
TRITON_ONLY = DATA / "problems" / "with_metadata.py"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A current directory of the test's own, where the default runs/ goes."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def started_run(run_dir: Path, problem: Path, thread_id: str) -> Path:
    """A run directory as run_search leaves it after starting."""
    RunDir(run_dir).write_meta({"thread_id": thread_id, "problem_path": str(problem),
                                "branches": 2, "minutes": 5.0, "rounds": 3, "tokens": None,
                                "target_speedup": None, "mode": "auto"})
    return run_dir


def test_a_new_run_gets_the_defaults_and_its_own_directory(workdir):
    plan = plan_solve(SolveRequest(problem=PROBLEM))
    assert len(plan.thread_id) == 32 and not plan.resume
    assert plan.run_dir == Path("runs") / f"scale_add_problem-{plan.thread_id[:8]}"
    assert (plan.minutes, plan.branches, plan.rounds) == (15.0, 4, None)
    assert plan.problem_text is None
    assert plan_solve(SolveRequest(problem=PROBLEM)).run_dir != plan.run_dir


@pytest.mark.parametrize(("budget", "minutes"),
                         [("15m", 15.0), ("90s", 1.5), ("1h", 60.0), ("2", 2.0), ("1h30m", 90.0)])
def test_budget_forms(workdir, budget, minutes):
    assert plan_solve(SolveRequest(problem=PROBLEM, budget=budget)).minutes == minutes


@pytest.mark.parametrize("budget", ["15x", "0", "m", "-3m"])
def test_bad_budget_is_refused_by_name(workdir, budget):
    with pytest.raises(SolveInputError, match="--budget"):
        plan_solve(SolveRequest(problem=PROBLEM, budget=budget))


@pytest.mark.parametrize(("problem", "message"), [
    (DATA / "nope.py", "problem file not found"),
    (DATA, "is a directory"),
    (DATA / "problems" / "syntax_error.py", "syntax error"),
    (DATA / "problems" / "no_model.py", "missing class Model"),
    (DATA / "problems" / "no_get_inputs.py", "get_inputs()"),
])
def test_unusable_problem_files(workdir, problem, message):
    with pytest.raises(SolveInputError, match=re.escape(message)):
        plan_solve(SolveRequest(problem=problem))


@pytest.mark.parametrize(("flags", "message"), [
    ({"sandbox": "vm"}, "--sandbox must be one of local, docker"),
    ({"backend": "fortran"}, "--backend must be one of triton, cuda"),
    ({"target_speedup": 0.0}, "--target-speedup must be positive"),
])
def test_bad_flags(workdir, flags, message):
    with pytest.raises(SolveInputError, match=message):
        plan_solve(SolveRequest(problem=PROBLEM, **flags))


def test_out_holding_another_search_is_refused(workdir):
    held = started_run(workdir / "held", PROBLEM, "a" * 32)
    with pytest.raises(SolveInputError, match=f"--resume {held}"):
        plan_solve(SolveRequest(problem=PROBLEM, out=held))


def test_resume_by_directory_thread_id_or_its_short_form(workdir):
    thread_id = "0123456789abcdef0123456789abcdef"
    run_dir = started_run(Path("runs") / "scale_add_problem-01234567", PROBLEM, thread_id)
    started_run(Path("runs") / "other-fedcba98", PROBLEM, "fedcba98" + "0" * 24)
    for name in (str(run_dir), thread_id, thread_id[:8]):
        plan = plan_solve(SolveRequest(problem=PROBLEM, resume=name))
        assert (plan.run_dir, plan.thread_id, plan.resume) == (run_dir, thread_id, True)
        assert (plan.minutes, plan.branches, plan.rounds) == (5.0, 2, 3), "the run's own"
    with pytest.raises(SolveInputError, match="no run to resume for 'feedbeef'"):
        plan_solve(SolveRequest(problem=PROBLEM, resume="feedbeef"))


def test_resume_keeps_the_runs_problem_and_budget(workdir):
    run_dir = started_run(workdir / "run", PROBLEM, "b" * 32)
    same = plan_solve(SolveRequest(problem=PROBLEM, resume=str(run_dir), rounds=3,
                                   target_speedup=2.0))
    assert same.minutes == 5.0 and same.target_speedup == 2.0 and same.more_minutes is None
    more = plan_solve(SolveRequest(problem=PROBLEM, resume=str(run_dir), budget="20m"))
    assert more.minutes == 5.0 and more.more_minutes == 20.0, "--budget adds time"
    with pytest.raises(SolveInputError, match="--budget: the duration '0' is not positive"):
        plan_solve(SolveRequest(problem=PROBLEM, resume=str(run_dir), budget="0"))
    with pytest.raises(SolveInputError, match="--branches cannot change"):
        plan_solve(SolveRequest(problem=PROBLEM, resume=str(run_dir), branches=8))
    with pytest.raises(SolveInputError, match="--backend cannot be given with --resume"):
        plan_solve(SolveRequest(problem=PROBLEM, resume=str(run_dir), backend="triton"))
    with pytest.raises(SolveInputError, match=f"is a search for {PROBLEM}, not {RMSNORM}"):
        plan_solve(SolveRequest(problem=RMSNORM, resume=str(run_dir)))
    copy = workdir / "copy_of_problem.py"
    copy.write_text(PROBLEM.read_text())
    assert plan_solve(SolveRequest(problem=copy, resume=str(run_dir))).run_dir == run_dir


def test_backend_narrows_only_the_backends_value():
    text = RMSNORM.read_text()
    narrowed = restrict_backends(text, str(RMSNORM), "triton")
    assert backends_of(narrowed) == ("triton",)
    assert metadata(narrowed) == {**metadata(text), "backends": ["triton"]}
    changed = [(a, b) for a, b in zip(text.splitlines(), narrowed.splitlines(), strict=True)
               if a != b]
    assert changed == [('    "backends": ["triton", "cuda"],', '    "backends": ["triton"],')]


def test_backend_added_where_the_problem_has_no_metadata():
    text = PROBLEM.read_text()
    narrowed = restrict_backends(text, str(PROBLEM), "cuda")
    assert narrowed.startswith(text.rstrip("\n"))
    assert backends_of(narrowed) == ("cuda",)
    ast.parse(narrowed)


def test_backend_metadata_without_the_key_is_rewritten_whole():
    source = PROBLEM.read_text() + '\nKERNEL_AGENT = {"atol": 1e-3, "request": "2x + b"}\n'
    narrowed = restrict_backends(source, "p.py", "triton")
    assert metadata(narrowed) == {"atol": 1e-3, "request": "2x + b", "backends": ["triton"]}


def test_backend_the_problem_does_not_allow_is_refused():
    text = TRITON_ONLY.read_text()
    assert restrict_backends(text, "p.py", "triton") == text, "already narrowed"
    with pytest.raises(SolveInputError, match="allows only triton"):
        restrict_backends(text, "p.py", "cuda")
    computed = PROBLEM.read_text() + "\nKERNEL_AGENT = dict(backends=['triton', 'cuda'])\n"
    with pytest.raises(SolveInputError, match="plain dict literal"):
        restrict_backends(computed, "p.py", "triton")
