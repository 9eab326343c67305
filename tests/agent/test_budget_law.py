"""`kernel-agent solve` holds to its budget whatever the endpoint does: a hung endpoint under
`--budget 30s` returns within 40 s; an endpoint that goes down ends the search with exit status
4 and the command that resumes it with more time, which then finds the kernel.

The real command (a child process, or the typer app in this process where the breaker's
thresholds must be small), the real langchain-openai client against the fault-injecting server,
the real local sandbox.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from pathlib import Path

from typer.testing import CliRunner

from kernel_agent.agent.cli import app
from kernel_agent.agent.cli_solve import EXIT_ENDPOINT_DOWN
from kernel_agent.agent.live_view import SearchView, line_for
from kernel_agent.graphs import assess, runner
from kernel_agent.graphs.breaker import Breaker
from tests.conftest import ROOT
from tests.graphs.scripts import CORRECT, OFF_BY_ONE, FaultsFirst, Router, r1
from tests.openai_server import Hang, HttpError, ScriptedOpenAIServer

from .test_solve_cli import CLI, IDEA, PROBLEM_ARG, environment, lines, model_flags


def test_a_hung_endpoint_ends_solve_within_the_budget(tmp_path):
    """Every request hangs: plan, generate, critic. The plan gives up at its share of the
    budget, the branch's call at the deadline; the command exits soon after."""
    out = tmp_path / "run"
    with ScriptedOpenAIServer(lambda request: Hang(max_s=120)) as server:
        started = time.monotonic()
        done = subprocess.run([*CLI, "solve", PROBLEM_ARG, *model_flags(server), "--budget",
                               "30s", "--branches", "1", "--out", str(out)], cwd=ROOT,
                              env=environment(), capture_output=True, text=True, timeout=120)
        elapsed = time.monotonic() - started
    assert elapsed < 40, (elapsed, done.stdout)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "stop reason: time budget used" in done.stdout
    [attempt] = lines(out / "attempts.jsonl")
    assert attempt["kind"] == "out_of_budget" and "cut at the deadline" in attempt["message"]
    assert f"--resume {out}" in done.stdout and "--budget 30s" in done.stdout


def test_endpoint_down_exits_4_and_resuming_with_more_time_passes(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "Breaker", lambda: Breaker(failures=2, window_s=0.5))
    monkeypatch.setattr(assess, "BACKOFF_S", 0.2)
    out = tmp_path / "run"
    kernels = FaultsFirst([r1(OFF_BY_ONE)], HttpError(503, "service unavailable"))
    with ScriptedOpenAIServer(Router(kernels, [IDEA])) as server:
        flags = [*model_flags(server), "--out", str(out)]
        down = CliRunner().invoke(app, ["solve", PROBLEM_ARG, *flags, "--budget", "2m",
                                        "--branches", "1"], env={"COLUMNS": "200"})
    assert down.exit_code == EXIT_ENDPOINT_DOWN, down.output
    assert "the model endpoint is down: the model endpoint looks down: " in down.output
    assert "service unavailable" in down.output
    assert [c["status"] for c in lines(out / "candidates.jsonl")] == ["fail"], "kept"
    assert {a["kind"] for a in lines(out / "attempts.jsonl")} == {"model_error"}
    hint = down.output[down.output.index("resume with more time:"):].splitlines()[1].strip()
    words = shlex.split(hint)
    assert words[:5] == ["kernel-agent", "solve", PROBLEM_ARG, "--resume", str(out)]
    assert words[-2:] == ["--budget", "2m"]

    with ScriptedOpenAIServer(Router(lambda *_: r1(CORRECT), [IDEA])) as server:
        words[words.index("--base-url") + 1] = server.base_url  # the endpoint is back
        resumed = CliRunner().invoke(app, words[1:], env={"COLUMNS": "200"})
    assert resumed.exit_code == 0, resumed.output
    assert "time added: 2 min more" in resumed.output
    assert [c["status"] for c in lines(out / "candidates.jsonl")] == ["fail", "pass"]
    assert Path(out / "best_kernel.py").read_text() == CORRECT


def test_the_live_view_shows_failed_attempts_and_added_time():
    view = SearchView(problem="p.py", branches=1, minutes=1.0)
    failed = {"event": "attempt_failed", "time": 0.0, "round": 1, "branch": 0,
              "kind": "no_code", "message": "the answer was empty"}
    view.apply({"event": "round_started", "time": 0.0, "round": 1})
    view.apply(failed)
    assert view.rows[(1, 0)].failed_tries == 1
    assert line_for(failed) == ("round 1 branch 0: attempt failed (no_code), asking again: "
                                "the answer was empty")
    view.apply({"event": "finished", "time": 50.0})
    view.apply({"event": "time_added", "time": 100.0, "minutes": 10.0, "seconds_left": 600.0,
                "round": 2})
    assert not view.finished and view.minutes == 10.0 and view.time_used(160.0) == 60.0
