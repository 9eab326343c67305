"""An endpoint that fails after round 1: server errors, a hang past the client's timeout, or
answers without code. The client retries, then the search ends with a clear error, and the
candidate verified in round 1 is kept in the state, in candidates.jsonl and in the report."""

from __future__ import annotations

import json

import pytest

from kernel_agent.graphs import run_search
from tests.openai_server import Hang, HttpError, Reply, ScriptedOpenAIServer, message_text

from .conftest import chat_model
from .scripts import OFF_BY_ONE, PROBLEM, Router, r1, requests_of

PROSE = Reply(content="<think>Hmm.</think>I would use a larger block and vector loads.")
SCENARIOS = {
    # name: (round-2 reply, client settings, generate requests expected in round 2, error words)
    "server_errors": (HttpError(500, "upstream overloaded"), {"max_retries": 2}, 3,
                      ["model_error", "500", "upstream overloaded"]),
    "timeouts": (Hang(max_s=30), {"max_retries": 1, "timeout_s": 1.0}, 2,
                 ["model_error", "timed out"]),
    "no_code": (PROSE, {"max_retries": 1}, 2, ["no_code", "no usable code in 2 answer(s)"]),
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_failing_endpoint_ends_with_clear_error_and_keeps_candidates(scenario, tmp_path,
                                                                     sandbox):
    failing, settings, expected_requests, words = SCENARIOS[scenario]

    def kernels(round_: int, idea: str, request: dict) -> object:
        return r1(OFF_BY_ONE) if round_ == 1 else failing

    with ScriptedOpenAIServer(Router(kernels, ["one block per program"])) as server:
        result = run_search(PROBLEM, tmp_path / "run", model=chat_model(server, **settings),
                            mode="closed_loop", branches=1, rounds=4, sandbox=sandbox)
        generate = requests_of(server.requests, "generate")

    assert result.status == "error" and result.error is not None
    assert result.error.startswith("round 2: no branch produced a candidate")
    for word in words:
        assert word in result.error, (word, result.error)
    assert len(generate) == 1 + expected_requests, "round 2 was retried, then given up"
    if scenario == "no_code":
        assert "Your answer contained no complete Python file" in message_text(generate[-1])

    assert [c["status"] for c in result.candidates] == ["fail"], "round 1's candidate is kept"
    lines = [json.loads(line) for line in (result.run_dir / "candidates.jsonl").open()]
    assert [line["id"] for line in lines] == [result.candidates[0]["id"]]
    report = result.report.read_text()
    assert "Error: round 2" in report and result.candidates[0]["id"] in report
    assert result.best_kernel is None
