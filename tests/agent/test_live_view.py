"""The solve command's progress view as a function of the search's events: the table, the
budget bar's clock, the best so far, and the plain lines printed where there is no terminal.
Rendered at 80 and 120 columns by Rich's recording console, asserting what a person reads."""

from __future__ import annotations

from io import StringIO

import pytest
from rich.console import Console

from kernel_agent.agent.live_view import ROWS_SHOWN, EventLines, SearchView, line_for
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


CAVEAT = ("speed not measured: no GPU on this machine: correctness ran under the Triton "
          "interpreter on small inputs; speed needs a GPU")
WIDTHS = pytest.mark.parametrize("width", [80, 120])


def shown(view: SearchView, now: float, width: int = 200) -> str:
    console = Console(file=StringIO(), width=width, record=True, color_system=None)
    console.print(view.render(now))
    text = console.export_text()
    assert all(len(line) <= width for line in text.splitlines())
    return text


def row_of(text: str, round_: int, branch: int) -> str:
    return next(line for line in text.splitlines()
                if line.replace("│", " ").split()[:2] == [f"r{round_}", f"b{branch}"])


def passed(at: float, round_: int, branch: int, ident: str, speedup: float | None,
           headline: str) -> list[dict]:
    return [event("candidate_verified", at, branch=branch, round=round_, id=ident,
                  status="pass", speedup=speedup, headline=headline, verify_s=2.0,
                  reused=False, kind="correct"),
            event("new_best", at, id=ident, round=round_, branch=branch, status="pass",
                  speedup=speedup, headline=headline)]


@WIDTHS
def test_table_clock_and_the_latest_failure_after_a_round(width):
    view = SearchView(problem="p.py", branches=2)
    for e in first_round():
        view.apply(e)
    text = shown(view, T0 + 60, width)
    assert "round 2 of 3" in text
    assert "1:00 / 15:00" in text and "round 2/3" in text and "tokens 2100" in text
    assert "branch 1: split rows" in text
    fail = row_of(text, 1, 0)
    assert "fail" in fail and "wrong output: columns 64" in fail
    missing = row_of(text, 1, 1)
    assert "no candidate" in missing and "no_code: no usable code" in missing
    assert "generating" in row_of(text, 2, 0) and "generating" in row_of(text, 2, 1)
    # a failing candidate is never called the best
    assert "best so far: none passed yet; latest failure: r01-b0-aaaa (wrong_output)" in text
    assert "r01-b0-aaaa (fail" not in text


@WIDTHS
def test_a_pass_without_timing_and_the_finish(width):
    view = SearchView(problem="p.py", branches=2)
    for e in [*first_round(),
              event("candidate_generated", 70, branch=0, round=2, model_s=30.0, tokens=800,
                    note=""),
              *passed(72, 2, 0, "r02-b0-bbbb", None, f"correct on every trial; {CAVEAT}"),
              *passed(73, 2, 1, "r02-b1-cccc", 1.75, "correct; 1.75x over eager"),
              event("finished", 74, stop_reason="target reached", error=None,
                    chosen="r02-b1-cccc", run_dir="runs/x")]:
        view.apply(e)
    text = shown(view, T0 + 74, width)
    assert "not timed" in row_of(text, 2, 0) and "1.75x" in row_of(text, 2, 1)
    assert "2 round(s) run" in text and "finished" in text
    assert "best so far: r02-b1-cccc (1.75x), round 2 branch 1" in text
    assert "stopped: target reached" in text
    assert view.finished and view.stop_reason == "target reached"


@WIDTHS
def test_a_machine_wide_caveat_is_said_once_and_rows_are_one_line(width):
    """On a CPU every passing verdict says speed was not measured: the header says it once;
    each row, however long its headline, is one line cut with an ellipsis."""
    view = SearchView(problem="p.py", branches=4, minutes=15.0, max_rounds=3)
    view.apply(event("round_started", 0, round=1))
    for branch in range(4):
        view.apply(event("candidate_verified", 10 + branch, branch=branch, round=1,
                         id=f"r01-b{branch}-x", status="pass", speedup=None,
                         headline=f"correct on every trial; {CAVEAT}", verify_s=1.0,
                         reused=False, kind="correct"))
    long = "wrong output: " + "the tail block is read past its end and " * 5
    view.apply(event("candidate_verified", 20, branch=0, round=2, id="r02-b0-y",
                     status="fail", speedup=None, headline=long, verify_s=1.0, reused=False,
                     kind="wrong_output"))
    view.apply(event("new_best", 21, id="r01-b3-x", round=1, branch=3, status="pass",
                     speedup=None,
                     headline=f"correct on every trial{', and long' * 12}; {CAVEAT}"))
    text = shown(view, T0 + 30, width)
    flat = " ".join(text.split())
    assert flat.count("speed not measured") == 1 and CAVEAT in flat
    lines = text.splitlines()
    assert lines.index(next(line for line in lines if line.startswith("speed not measured"))) == 1
    for branch in range(4):
        assert row_of(text, 1, branch).rstrip().endswith("not timed │")
    assert row_of(text, 2, 0).count("…") == 1
    best = next(line for line in lines if line.startswith("best so far:"))
    assert best.startswith("best so far: r01-b3-x (not timed), round 1 branch 3: correct on")
    assert best.endswith("…"), "clipped with an ellipsis, not cut short silently"
    table = [line for line in lines if line.startswith(("┏", "┃", "┡", "│", "└"))]
    assert len(table) == 4 + 5, "a header of three lines, five rows, a bottom line"


@WIDTHS
def test_a_failed_call_with_a_multi_line_message_is_one_row_line(width):
    """An endpoint's error comes with notes on lines of their own (endpoint, limits, tries): the
    row and the latest failure still take one line each."""
    view = SearchView(problem="p.py", branches=1, minutes=2.0, max_rounds=None)
    view.apply(event("round_started", 0, round=1))
    message = ("Error code: 500 - scripted server error\nmodel 'm' at http://127.0.0.1:1/v1: "
               "connect timeout 10 s\n(gave up after 3 tries)")
    view.apply(event("generation_failed", 9, branch=0, round=1, kind="model_error",
                     message=message, model_s=8.0))
    text = shown(view, T0 + 10, width)
    row = row_of(text, 1, 0)
    assert "model_error: Error code: 500 - scripted se" in row and row.count("…") == 1
    if width >= 120:
        assert "scripted server error model 'm' at" in row, "the notes follow on the same line"
    table = [line for line in text.splitlines() if line.startswith(("┏", "┃", "┡", "│", "└"))]
    assert len(table) == 4 + 1, "a header of three lines, one row, a bottom line"
    latest = next(line for line in text.splitlines() if line.startswith("best so far:"))
    assert latest.startswith("best so far: none passed yet; latest failure: round 1 branch 0 "
                             "(model_error): E")
    if width >= 120:
        assert "scripted server error m" in latest, "the notes follow on the same line"
    assert not any(line.startswith(("model 'm'", "(gave up")) for line in text.splitlines())


def test_the_clock_never_runs_backwards():
    """The command's own deadline is exact; later estimates (the search's start, a budget
    event's seconds left) must not move the clock back."""
    view = SearchView(problem="p.py", branches=1, minutes=2.0, deadline=T0 + 120)
    clocks = [view.time_used(T0 + 5)]
    view.apply(event("run_started", 4, problem="p.py", branches=1, minutes=2.0, rounds=None,
                     tokens=None, request="", mode="auto"))
    clocks.append(view.time_used(T0 + 6))
    view.apply(event("budget", 30, round=1, rounds_left=None, seconds_left=93.0,
                     tokens_used=10, tokens_left=None))
    clocks += [view.time_used(T0 + 30), view.time_used(T0 + 29.5), view.time_used(T0 + 31)]
    assert clocks == sorted(clocks) and clocks[0] == 5.0 and clocks[-1] == 31.0


def test_budget_clock_of_a_resumed_run_comes_from_the_budget_event():
    """A resumed run sees no run_started: the clock is unknown until a budget event."""
    view = SearchView(problem="p.py", branches=1, minutes=10.0, max_rounds=None)
    assert view.time_used(T0) is None
    assert "time: not known yet" in shown(view, T0)
    view.apply(event("budget", 0, round=4, rounds_left=None, seconds_left=240.0,
                     tokens_used=9000, tokens_left=None))
    assert view.time_used(T0 + 60) == 420.0
    assert "7:00 / 10:00" in shown(view, T0 + 60)
    assert view.time_used(T0 + 10_000) == 600.0, "never past the budget"


@WIDTHS
def test_a_resumed_run_shows_its_history_and_real_budget(width):
    """`seed` with a checkpoint's state: earlier rounds, the ideas, the budget left."""
    verdict_headline = f"correct on every trial; {CAVEAT}"
    values = {
        "round": 2, "deadline": T0 + 300, "started_at": T0, "max_rounds": 4,
        "tokens_used": 5000,
        "branches": {"0": {"idea": "one block per row"}, "1": {"idea": "split rows"}},
        "candidates": [
            {"id": "r01-b0-aaaa", "round": 1, "branch": 0, "status": "fail", "speedup": None,
             "headline": "wrong output: columns 64 and up are wrong"},
            {"id": "r02-b1-cccc", "round": 2, "branch": 1, "status": "pass", "speedup": None,
             "headline": verdict_headline}],
        "failures": [{"round": 1, "branch": 1, "kind": "model_error", "message": "HTTP 503"}],
        "best": {"id": "r02-b1-cccc", "round": 2, "branch": 1, "status": "pass",
                 "speedup": None, "headline": verdict_headline},
    }
    attempts = [{"round": 1, "branch": 1, "try": 1, "kind": "model_error", "message": "HTTP 503"},
                {"round": 2, "branch": 1, "try": 1, "kind": "no_code", "message": "empty"}]
    view = SearchView(problem="p.py", branches=2, minutes=5.0)
    view.seed(values, {"r01-b0-aaaa": "wrong_output", "r02-b1-cccc": "correct"}, attempts)
    text = shown(view, T0 + 120, width)
    # the failed try that ended round 1's branch 1 is its "no candidate", not one more failure
    assert "(1 failed)" not in row_of(text, 1, 1) and "pass (1 failed)" in row_of(text, 2, 1)
    assert "branch 0: one block per row" in text and "branch 1: split rows" in text
    assert "2:00 / 5:00" in text and "round 2/4" in text and "tokens 5000" in text
    assert "fail" in row_of(text, 1, 0) and "model_error: HTTP 503" in row_of(text, 1, 1)
    assert "generating" in row_of(text, 2, 0) and "pass" in row_of(text, 2, 1)
    assert "best so far: r02-b1-cccc (not timed)" in text
    assert " ".join(text.split()).count("speed not measured") == 1


@WIDTHS
def test_a_plan_that_could_not_be_read_says_so(width):
    view = SearchView(problem="p.py", branches=2, minutes=15.0)
    view.apply(event("plan_ready", 1, ideas=["tile rows", "vector loads"], source="built-in",
                     model_s=3.0, error=None))
    view.apply(event("round_started", 1, round=1))
    text = shown(view, T0 + 2, width)
    assert "the model's plan could not be used, so the ideas are built-in" in text
    assert "round 1/" not in text or "rounds 0" not in text
    assert "rounds 0" not in text and "round 1" in text
    line = line_for(event("plan_ready", 1, ideas=["tile rows"], source="built-in", model_s=3.0,
                          error="HTTP 500"))
    assert line == ("plan (built-in): 0: tile rows (the model's plan could not be used, so the "
                    "ideas are built-in (HTTP 500))")


def test_only_the_latest_rows_are_shown():
    view = SearchView(problem="p.py", branches=4)
    for number in range(1, 7):
        view.apply(event("round_started", number, round=number))
    text = shown(view, T0)
    hidden = 6 * 4 - ROWS_SHOWN
    assert f"{hidden} earlier candidate(s) not shown" in text
    assert row_of(text, 6, 3) and not any(
        line.replace("│", " ").split()[:2] == ["r1", "b0"] for line in text.splitlines())


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
    assert lines[7] is None, "a failing candidate is not announced as the best"
    assert lines[8] == "budget: 14:27 left, 2 round(s) left, 2100 tokens used"
    assert lines[9] is None
    assert line_for(event("retimed", 0, measured=False, reason="no GPU", results=None,
                          chosen=None)) == "finalists not re-timed: no GPU"
    assert line_for(event("finished", 0, stop_reason="time budget used", error=None,
                          chosen=None, run_dir="r")) == "finished: time budget used"


def test_plain_lines_say_a_machine_wide_caveat_once():
    printer = EventLines()
    out = [line for e in [*passed(1, 1, 0, "r01-b0-a", None, f"correct on every trial; {CAVEAT}"),
                          *passed(2, 1, 1, "r01-b1-b", None, f"correct on every trial; {CAVEAT}"),
                          event("finished", 3, stop_reason=f"correct kernel found; {CAVEAT}",
                                error=None, chosen="r01-b0-a", run_dir="r")]
           for line in printer.lines(e)]
    assert out[0] == f"note: {CAVEAT}"
    assert out[1].startswith("round 1 branch 0: PASS [correct] r01-b0-a: correct on every "
                             "trial (speedup not timed")
    assert out[2] == "new best: r01-b0-a (not timed)"
    assert sum(CAVEAT in line for line in out) == 1
    assert out[-1] == "finished: correct kernel found"


def test_tokens_count_as_they_are_spent_and_the_budget_event_has_the_sum():
    view = SearchView(problem="p.py", branches=2, minutes=15.0)
    view.apply(event("plan_ready", 1, ideas=["a", "b"], source="model", model_s=1.0,
                     error=None, tokens=300))
    view.apply(event("round_started", 1, round=1))
    assert "tokens 300" in shown(view, T0 + 2)
    view.apply(event("candidate_generated", 5, branch=0, round=1, model_s=4.0, tokens=900,
                     note=""))
    assert "tokens 1200" in shown(view, T0 + 6)
    view.apply(event("budget", 9, round=1, rounds_left=None, seconds_left=800.0,
                     tokens_used=1500, tokens_left=None))  # the critic's tokens too
    assert "tokens 1500" in shown(view, T0 + 10)
