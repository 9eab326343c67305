"""Select keeps no finalist whose output was wrong while re-timed. The re-timing task needs a GPU
(tests/gpu/test_retime_gpu.py runs it); here a sandbox answers with what it reports, so the
node's choice and what it passes on are checked on any machine."""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

from kernel_agent.graphs.context import Context
from kernel_agent.graphs.report import render
from kernel_agent.graphs.select import RETIME_TASK, select
from kernel_agent.graphs.state import State
from kernel_agent.sandbox import Limits, TaskResult
from tests.graphs.streaming import stream_to_end

WRONG = {"flag": "timed_output_wrong", "reason": "12 of 40 calls made while timing returned a "
         "wrong output"}


class RetimeAnswers:
    """A sandbox whose re-timing task returns a given value and keeps the payloads."""

    name = "retime-answers"

    def __init__(self, value: dict[str, Any]) -> None:
        self.value, self.payloads = value, []

    def run(self, task: str, payload: dict[str, Any], limits: Limits | None = None) -> TaskResult:
        assert task == RETIME_TASK
        self.payloads.append(payload)
        return TaskResult(value=self.value)

    def close(self) -> None:
        pass


def candidate(key: str, speedup: float, atol: float) -> dict[str, Any]:
    return {"id": key, "round": 1, "branch": 0, "idea": "", "path": f"{key}.py",
            "code": f"# {key}\n", "status": "pass", "headline": "", "speedup": speedup,
            "verdict": {"tolerance": {"atol": atol, "rtol": atol}}, "verify_s": 1.0,
            "model_s": 0.0, "tokens": 0, "note": ""}


def run_select(sandbox: RetimeAnswers, candidates: list[dict[str, Any]]
               ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    builder = StateGraph(State, context_schema=Context)
    builder.add_node("select", select)
    builder.add_node("tune", lambda state: {})
    builder.add_edge(START, "select")
    builder.add_edge("tune", END)
    start = {"problem": {"text": "", "path": "problem.py"}, "candidates": candidates}
    return stream_to_end(builder.compile(), start,
                         Context(sandbox=sandbox))  # type: ignore[arg-type]


def retimed(results: dict[str, float], failed: dict[str, Any]) -> dict[str, Any]:
    return {"measured": True, "device": "gpu", "eager_ms": 1.0, "rounds": 5, "errors": {},
            "results": {key: {"median_ms": ms, "round_medians_ms": [ms] * 5,
                              "speedup_eager": 1.0 / ms} for key, ms in results.items()},
            "failed": failed}


def test_a_finalist_wrong_while_re_timed_is_not_chosen_and_is_reported():
    # a's time is listed too: a failed finalist loses whatever its time
    sandbox = RetimeAnswers(retimed({"a": 0.1, "b": 0.5, "c": 0.6}, {"a": WRONG}))
    final, events = run_select(sandbox, [candidate("a", 9.0, 0.01), candidate("b", 2.0, 0.02),
                                         candidate("c", 1.5, 0.03), candidate("d", 1.0, 0.04)])
    assert final["chosen"]["id"] == "b"
    [payload] = sandbox.payloads
    assert [(c["id"], c["tolerance"]) for c in payload["candidates"]] == [
        ("a", {"atol": 0.01, "rtol": 0.01}), ("b", {"atol": 0.02, "rtol": 0.02}),
        ("c", {"atol": 0.03, "rtol": 0.03})]
    event = next(e for e in events if e["event"] == "retimed")
    assert event["failed"] == {"a": WRONG} and event["chosen"] == "b"
    assert final["retime"]["failed"] == {"a": WRONG}


def test_when_every_finalist_failed_the_best_other_passing_candidate_is_chosen():
    sandbox = RetimeAnswers(retimed({}, {"a": WRONG, "b": WRONG}))
    final, _ = run_select(sandbox, [candidate("a", 9.0, 0.01), candidate("b", 2.0, 0.02)])
    assert final["chosen"] is None
    sandbox = RetimeAnswers(retimed({}, {"a": WRONG, "b": WRONG, "c": WRONG}))
    final, _ = run_select(sandbox, [candidate("a", 9.0, 0.01), candidate("b", 2.0, 0.02),
                                    candidate("c", 1.5, 0.03), candidate("d", 1.0, 0.04)])
    assert final["chosen"]["id"] == "d"


def test_the_report_names_a_finalist_wrong_while_re_timed_and_gives_it_no_time():
    sandbox = RetimeAnswers(retimed({"a": 0.1, "b": 0.5}, {"a": WRONG}))
    final, _ = run_select(sandbox, [candidate("a", 9.0, 0.01), candidate("b", 2.0, 0.02)])
    text = render(final)
    retimed_part = text.split("Re-timed interleaved", 1)[1].split("```", 1)[0]
    rows = [line for line in retimed_part.splitlines() if line.startswith("| a |")]
    assert rows == [f"| a | wrong output while re-timed (timed_output_wrong): {WRONG['reason']}; "
                    "never chosen | - |"]
    assert "| b | 0.5000 | 2.00x |" in text
    assert "0.1000" not in text
