"""The budget ends a search: wall-clock minutes, tokens, rounds (see test_parallel), or a
target speedup; and on a machine that cannot time kernels, the first correct one."""

from __future__ import annotations

from kernel_agent.graphs import Context, run_search
from kernel_agent.graphs.assess import stop_reason
from tests.openai_server import ScriptedOpenAIServer

from .conftest import chat_model
from .scripts import OFF_BY_ONE, PROBLEM, Router, r1, requests_of


def test_no_time_left_means_no_model_call_and_no_error(tmp_path, sandbox):
    with ScriptedOpenAIServer(Router(lambda *_: r1(OFF_BY_ONE), ["a", "b"])) as server:
        result = run_search(PROBLEM, tmp_path / "run", model=chat_model(server),
                            mode="closed_loop", branches=2, minutes=0, sandbox=sandbox)
        assert requests_of(server.requests, "generate") == []
    assert result.status == "fail" and result.error is None
    assert result.stop_reason == "time budget used"
    assert {f["kind"] for f in result.failures} == {"out_of_budget"}


def test_token_budget_stops_after_the_round_that_used_it(tmp_path, sandbox):
    with ScriptedOpenAIServer(Router(lambda *_: r1(OFF_BY_ONE), ["a"])) as server:
        result = run_search(PROBLEM, tmp_path / "run", model=chat_model(server),
                            mode="closed_loop", branches=1, tokens=1, sandbox=sandbox)
        assert len(requests_of(server.requests, "generate")) == 1
    assert result.tokens_used > 1 and len(result.candidates) == 1
    assert result.stop_reason == f"token budget used ({result.tokens_used} of 1)"


def passing(speedup: float | None, timed: bool) -> dict:
    not_measured = {} if timed else {"timing": "no GPU on this machine"}
    return {"status": "pass", "speedup": speedup, "verdict": {"not_measured": not_measured}}


def test_target_speedup_and_untimed_machines_end_the_search():
    def reason(best: dict, target: float | None) -> str | None:
        return stop_reason(best, Context(target_speedup=target), 1, None, 600.0, 0, None, [])

    assert reason(passing(2.5, True), 2.0) == "target reached: 2.50x over eager (target 2x)"
    assert reason(passing(1.5, True), 2.0) is None, "below target: keep searching"
    assert reason(passing(1.5, True), None) is None, "no target: use the whole budget"
    assert reason(passing(None, False), 2.0).startswith("correct kernel found; speed not "
                                                        "measured: no GPU")
