"""A fault costs an attempt, never the search: every kind of failed call and of answer without
code, followed later by a correct kernel, ends in a pass, with the fault recorded and the
re-ask saying what was wrong. Only the circuit breaker ends a search early, keeping every
verified candidate; a run that stopped can be resumed with more time.

Real parts throughout: the langchain-openai client against the fault-injecting server on
127.0.0.1, the local sandbox, SQLite checkpoints. The client does not retry here (max_retries 0),
so each fault reaches the graph."""

from __future__ import annotations

import time

import pytest

from kernel_agent.graphs import assess, run_search
from kernel_agent.graphs.breaker import Breaker
from kernel_agent.graphs.rundir import RunDir
from tests.openai_server import Hang, HttpError, ScriptedOpenAIServer, message_text

from .conftest import chat_model
from .scripts import (
    ASKED_AGAIN_FAULTS,
    CORRECT,
    FAULTS,
    NO_CODE_FAULTS,
    OFF_BY_ONE,
    PROBLEM,
    FaultsFirst,
    Router,
    kind,
    r1,
    requests_of,
)

IDEA = ["one block per program"]


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    """Back-off between a branch's failed calls is seconds in real runs; here a blink."""
    monkeypatch.setattr(assess, "BACKOFF_S", 0.05)


@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_fault_then_a_correct_kernel_ends_in_a_pass(fault, tmp_path, sandbox):
    kernels = FaultsFirst([FAULTS[fault]], r1(CORRECT))
    with ScriptedOpenAIServer(Router(kernels, IDEA)) as server:
        result = run_search(PROBLEM, tmp_path / "run", mode="closed_loop", branches=1,
                            minutes=1, sandbox=sandbox,
                            model=chat_model(server, max_retries=0, timeout_s=2))
        generate = requests_of(server.requests, "generate")

    assert result.status == "pass" and result.error is None, result.stop_reason
    assert [c["status"] for c in result.candidates] == ["pass"]
    assert len(generate) == 2 and kernels.asked == 2
    if fault in ASKED_AGAIN_FAULTS:  # within the same call: no attempt lost, no failure
        assert [bool(request.get("stream")) for request in generate] == [True, False]
        assert result.candidates[0]["round"] == 1 and result.failures == []
        assert RunDir(result.run_dir).attempts() == []
        return
    [recorded] = RunDir(result.run_dir).attempts()
    assert recorded["round"] == 1 and recorded["branch"] == 0 and recorded["message"]
    if fault in NO_CODE_FAULTS:  # re-asked in the same round, saying why, without reasoning
        assert recorded["kind"] == "no_code" and result.candidates[0]["round"] == 1
        re_ask = message_text(generate[1])
        assert "Your answer contained no complete Python file" in re_ask
        assert "Tile the loop" not in re_ask and "Hmm." not in re_ask
    else:  # the call failed: the branch asks again, next round, with the same prompt
        assert recorded["kind"] == "model_error" and result.candidates[0]["round"] == 2
        assert generate[1]["messages"] == generate[0]["messages"]
        assert [f["kind"] for f in result.failures] == ["model_error"]
    assert "Attempts without a candidate" in result.report.read_text() or fault in NO_CODE_FAULTS


def test_ten_faults_in_a_row_then_the_kernel(tmp_path, sandbox):
    """The issue's case: ten faults of every kind, then a correct kernel, within one budget."""
    names = ([name for name in FAULTS if name not in ("hang", "stall")] * 2)[:10]
    kernels = FaultsFirst([FAULTS[name] for name in names], r1(CORRECT))
    with ScriptedOpenAIServer(Router(kernels, IDEA)) as server:
        result = run_search(PROBLEM, tmp_path / "run", mode="closed_loop", branches=1,
                            minutes=1, sandbox=sandbox,
                            model=chat_model(server, max_retries=0))
    assert result.status == "pass" and kernels.asked == 11
    # A fault answered again within its call shares its attempt with the next request's fault.
    assert len(result.attempts) == 10 - sum(name in ASKED_AGAIN_FAULTS for name in names)
    assert {a["kind"] for a in result.attempts} == {"model_error", "no_code"}


def test_the_breaker_ends_a_search_whose_endpoint_is_down(tmp_path, sandbox):
    """Round 1 verifies a wrong kernel; then every call fails. The breaker trips after three
    failed calls in a row over at least a second; round 1's candidate is kept."""
    kernels = FaultsFirst([r1(OFF_BY_ONE)], HttpError(503, "service unavailable"))
    started = time.monotonic()
    with ScriptedOpenAIServer(Router(kernels, ["a", "b"])) as server:
        result = run_search(PROBLEM, tmp_path / "run", mode="closed_loop", branches=2,
                            minutes=1, sandbox=sandbox, breaker=Breaker(3, 1.0),
                            model=chat_model(server, max_retries=0))
    assert time.monotonic() - started < 40, "stopped well before the budget's minute"
    assert result.endpoint_down and result.status == "error"
    assert result.error.startswith("the model endpoint looks down: ")
    assert "calls in a row failed" in result.error and "service unavailable" in result.error
    assert [c["status"] for c in result.candidates] == ["fail"], "round 1's candidate is kept"
    assert len(RunDir(result.run_dir).candidates()) == 1
    assert result.candidates[0]["id"] in result.report.read_text()


def test_resume_with_more_time_searches_on_where_the_deadline_stopped(tmp_path, sandbox):
    run_dir = tmp_path / "run"
    with ScriptedOpenAIServer(Router(lambda *_: r1(OFF_BY_ONE), IDEA)) as server:
        first = run_search(PROBLEM, run_dir, mode="closed_loop", branches=1, minutes=0.05,
                           sandbox=sandbox, model=chat_model(server))
    assert first.status == "fail" and first.stop_reason == "time budget used"
    rounds_before = first.rounds

    events: list[dict] = []
    with ScriptedOpenAIServer(Router(lambda *_: r1(CORRECT), IDEA)) as server:
        resumed = run_search(PROBLEM, run_dir, mode="closed_loop", branches=1, resume=True,
                             more_minutes=1, sandbox=sandbox, model=chat_model(server),
                             on_event=events.append)
        assert len(requests_of(server.requests, "generate")) == 1
    assert resumed.status == "pass"
    assert resumed.rounds == rounds_before + 1
    kept = [(c["id"], c["status"]) for c in resumed.candidates[:len(first.candidates)]]
    assert kept == [(c["id"], c["status"]) for c in first.candidates], "verdicts kept"
    added = [e for e in events if e["event"] == "time_added"]
    assert added and added[0]["minutes"] == 1 and added[0]["round"] == rounds_before + 1


def test_more_time_changes_nothing_for_a_run_that_met_its_target(tmp_path, sandbox):
    run_dir = tmp_path / "run"
    with ScriptedOpenAIServer(Router(lambda *_: r1(CORRECT), IDEA)) as server:
        first = run_search(PROBLEM, run_dir, mode="closed_loop", branches=1, minutes=1,
                           sandbox=sandbox, model=chat_model(server))
        asked = len(server.requests)
        again = run_search(PROBLEM, run_dir, mode="closed_loop", branches=1, resume=True,
                           more_minutes=1, sandbox=sandbox, model=chat_model(server))
        assert len(server.requests) == asked, "no model call: a correct kernel is the target"
    assert first.status == again.status == "pass" and again.rounds == first.rounds


def test_the_breaker_needs_both_the_count_and_the_window():
    breaker = Breaker(failures=3, window_s=60)

    def failed(at: float) -> dict:
        return {"round": 1, "branch": 0, "kind": "model_error", "message": "503", "at": at}

    health = breaker.judge(None, [], [failed(0.0), failed(1.0), failed(2.0)], now=2.0)
    assert (health["failures"], health["since"], health["down"]) == (3, 0.0, False)
    health = breaker.judge(health, [], [failed(61.0)], now=61.0)
    assert health["down"], "four in a row over 61 s"
    no_code = {**failed(62.0), "kind": "no_code"}
    assert breaker.judge(health, [], [failed(62.0), no_code], now=62.0)["failures"] == 0, \
        "the endpoint answered a branch: the count starts again"
    out_of_time = {**failed(62.0), "kind": "out_of_budget"}
    assert breaker.judge(health, [], [out_of_time], now=62.0) == health, "neither"


@pytest.mark.parametrize(("status", "body"), [(401, "invalid api key"),
                                              (404, "the model `r1-typo` does not exist")])
def test_an_endpoint_refusing_every_request_ends_the_search_at_once_and_says_why(
        tmp_path, sandbox, status, body):
    """A wrong key or model name fails every call alike: the search stops after its first
    round (the default breaker would wait minutes), keeping round 1's candidate."""
    kernels = FaultsFirst([r1(OFF_BY_ONE)], HttpError(status, body))
    started = time.monotonic()
    with ScriptedOpenAIServer(Router(kernels, ["a"])) as server:
        result = run_search(PROBLEM, tmp_path / "run", mode="closed_loop", branches=1,
                            minutes=1, sandbox=sandbox, model=chat_model(server, max_retries=0))
    assert time.monotonic() - started < 30, "stopped well before the budget's minute"
    assert result.endpoint_down and result.status == "error"
    assert result.error.startswith("the model endpoint refuses every request")
    assert body in result.error and "API key" in result.error
    assert [f["kind"] for f in result.failures] == ["endpoint_refused"]
    assert [c["status"] for c in result.candidates] == ["fail"]


def test_a_refused_request_is_no_sign_of_an_endpoint_down():
    breaker = Breaker(failures=1, window_s=0)
    refused = {"round": 1, "branch": 0, "kind": "request_refused", "message": "400 too long",
               "at": 0.0}
    assert breaker.judge(None, [], [refused], now=1.0) == {"failures": 0, "since": None,
                                                           "down": False}
    down = {**refused, "kind": "endpoint_refused", "message": "401 bad key"}
    assert Breaker().judge(None, [], [down], now=1.0)["down"], "one is enough"


class HangingCritic(Router):
    """Every critic call hangs; plan and generate answer."""

    def __call__(self, request: dict) -> object:
        if kind(request) == "critic":
            return Hang(max_s=120)
        return super().__call__(request)


def test_a_hanging_critic_costs_a_round_a_share_of_the_time_left_not_the_budget(
        tmp_path, sandbox):
    """The critic's advice is optional: its call gets a share of the time left, after which the
    diagnosis alone makes the next prompt, and the search goes on to a pass."""
    kernels = FaultsFirst([r1(OFF_BY_ONE)], r1(CORRECT))
    started = time.monotonic()
    with ScriptedOpenAIServer(HangingCritic(kernels, IDEA)) as server:
        result = run_search(PROBLEM, tmp_path / "run", mode="closed_loop", branches=1,
                            minutes=1, sandbox=sandbox,
                            model=chat_model(server, max_retries=0, timeout_s=120))
    assert result.status == "pass", result.stop_reason
    assert [c["round"] for c in result.candidates] == [1, 2]
    assert time.monotonic() - started < 30, "the critic held round 2 back past its share"
