"""The solve command's progress view as a function of the search's events: the table, the
budget bar's clock, the best so far, and the plain lines printed where there is no terminal."""

from __future__ import annotations

from io import StringIO

from rich.console import Console

from kernel_agent.agent.live_view import ROWS_SHOWN, SearchView, line_for
from kernel_agent.graphs.events import EVENTS

T0 = 1_000_000.0


def event(name: str, at: float, **data: object) -> dict:
    assert name in EVENTS
    return {"event": name, "time": T0 + at, **data}


def first_round() -> list[dict]:
    """Two branches: branch 0 verifies a wrong kernel, branch 1 gets no code from the model."""
    return [
        event("run_started", 0, problem="p.py", branches=2, minutes=15.0, rounds=3, tokens=None,
              request="", mode="closed_loop"),
        event("plan_ready", 5, ideas=["one block per row", "split rows"], source="model",
              model_s=5.0, error=None),
        event("round_started", 5, round=1),
        event("candidate_generated", 30, branch=0, round=1, model_s=25.0, tokens=900, note=""),
        event("generation_failed", 31, branch=1, round=1, kind="no_code",
              message="no usable code in 2 answer(s)", model_s=26.0),
        event("candidate_verified", 33, branch=0, round=1, id="r01-b0-aaaa", status="fail",
              speedup=None, headline="wrong output: columns 64 and up are wrong", verify_s=2.5,
              reused=False, kind="wrong_output"),
        event("round_finished", 33, round=1, seconds=28.0, verified=1, passed=0, failures=1),
        event("new_best", 33, id="r01-b0-aaaa", round=1, branch=0, status="fail", speedup=None,
              headline="wrong output: columns 64 and up are wrong"),
        event("budget", 33, round=1, rounds_left=2, seconds_left=867.0, tokens_used=2100,
              tokens_left=None),
        event("critic_done", 40, branch=0, round=2, model_s=6.0, kind="wrong_output"),
        event("round_started", 40, round=2),
    ]


def shown(view: SearchView, now: float) -> str:
    console = Console(file=StringIO(), width=200, color_system=None)
    console.print(view.render(now))
    return console.file.getvalue()


def row_of(text: str, round_: int, branch: int) -> str:
    return next(line for line in text.splitlines()
                if line.replace("│", " ").split()[:2] == [str(round_), str(branch)])


def test_table_clock_and_best_after_a_round():
    view = SearchView(problem="p.py", branches=2)
    for e in first_round():
        view.apply(e)
    text = shown(view, T0 + 60)
    assert "round 2 of 3" in text
    assert "1:00 / 15:00" in text and "rounds 1/3" in text and "tokens 2100" in text
    assert "branch 1: split rows" in text
    fail = row_of(text, 1, 0)
    assert "fail" in fail and "wrong_output" in fail and "columns 64 and up" in fail
    missing = row_of(text, 1, 1)
    assert "no candidate" in missing and "no_code" in missing
    assert "generating" in row_of(text, 2, 0) and "generating" in row_of(text, 2, 1)
    assert "best so far: r01-b0-aaaa (fail, -), round 1 branch 0" in text


def test_a_pass_without_timing_and_the_finish():
    view = SearchView(problem="p.py", branches=2)
    for e in [*first_round(),
              event("candidate_generated", 70, branch=0, round=2, model_s=30.0, tokens=800,
                    note=""),
              event("candidate_verified", 72, branch=0, round=2, id="r02-b0-bbbb",
                    status="pass", speedup=None, headline="correct on every trial",
                    verify_s=2.0, reused=False, kind="correct"),
              event("candidate_verified", 73, branch=1, round=2, id="r02-b1-cccc",
                    status="pass", speedup=1.75, headline="correct; 1.75x over eager",
                    verify_s=2.0, reused=False, kind="correct"),
              event("new_best", 73, id="r02-b1-cccc", round=2, branch=1, status="pass",
                    speedup=1.75, headline="correct; 1.75x over eager"),
              event("finished", 74, stop_reason="target reached", error=None,
                    chosen="r02-b1-cccc", run_dir="runs/x")]:
        view.apply(e)
    text = shown(view, T0 + 74)
    assert "not timed" in row_of(text, 2, 0) and "1.75x" in row_of(text, 2, 1)
    assert "rounds 2/3" in text and "finished" in text
    assert "best so far: r02-b1-cccc (pass, 1.75x)" in text
    assert view.finished and view.stop_reason == "target reached"


def test_budget_clock_of_a_resumed_run_comes_from_the_budget_event():
    """A resumed run sees no run_started: the clock is unknown until a budget event."""
    view = SearchView(problem="p.py", branches=1, minutes=10.0, max_rounds=None)
    assert view.time_used(T0) is None
    assert "time: known when this round ends" in shown(view, T0)
    view.apply(event("budget", 0, round=4, rounds_left=None, seconds_left=240.0,
                     tokens_used=9000, tokens_left=None))
    assert view.time_used(T0 + 60) == 420.0
    assert "7:00 / 10:00" in shown(view, T0 + 60)
    assert view.time_used(T0 + 10_000) == 600.0, "never past the budget"


def test_only_the_latest_rows_are_shown():
    view = SearchView(problem="p.py", branches=4)
    for number in range(1, 7):
        view.apply(event("round_started", number, round=number))
    text = shown(view, T0)
    hidden = 6 * 4 - ROWS_SHOWN
    assert f"{hidden} earlier candidate(s) not shown" in text
    assert row_of(text, 6, 3) and not any(
        line.replace("│", " ").split()[:2] == ["1", "0"] for line in text.splitlines())


def test_one_line_per_notable_event():
    lines = [line_for(e) for e in first_round()]
    assert lines[0] == ("started p.py: 2 branch(es), budget 15 min, at most 3 rounds "
                        "(closed_loop)")
    assert lines[1] == "plan (model): 0: one block per row; 1: split rows"
    assert lines[2] == "round 1 started"
    assert lines[3] is None, "a generated candidate is shown when verified"
    assert lines[4] == ("round 1 branch 1: no candidate (no_code): no usable code in 2 "
                        "answer(s)")
    assert lines[5] == ("round 1 branch 0: FAIL [wrong_output] r01-b0-aaaa: wrong output: "
                        "columns 64 and up are wrong (speedup -, verified in 2.5 s)")
    assert lines[6] == "round 1 finished in 28.0 s: 1 verified, 0 passed, 1 without a candidate"
    assert lines[7] == "new best: r01-b0-aaaa (fail, -)"
    assert lines[8] == "budget: 14:27 left, 2 round(s) left, 2100 tokens used"
    assert lines[9] is None
    assert line_for(event("retimed", 0, measured=False, reason="no GPU", results=None,
                          chosen=None)) == "finalists not re-timed: no GPU"
    assert line_for(event("finished", 0, stop_reason="time budget used", error=None,
                          chosen=None, run_dir="r")) == "finished: time budget used"
