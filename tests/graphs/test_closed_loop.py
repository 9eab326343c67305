"""The closed loop with an R1-style model: a compile error, then a wrong result, then a correct
kernel. Each refined prompt must carry the evidence of the round before it."""

from __future__ import annotations

import json

from kernel_agent.graphs import run_search
from tests.openai_server import ScriptedOpenAIServer, message_text

from .conftest import chat_model
from .scripts import BROKEN, BROKEN_LINE, CORRECT, OFF_BY_ONE, PROBLEM, Router, r1, requests_of


def by_round(round_: int, idea: str, request: dict) -> object:
    return r1({1: BROKEN, 2: OFF_BY_ONE}.get(round_, CORRECT))


def test_compile_error_then_wrong_then_correct(tmp_path, sandbox):
    events: list[dict] = []
    with ScriptedOpenAIServer(Router(by_round, ["one block of 256 elements per program"])) as srv:
        result = run_search(PROBLEM, tmp_path / "run", model=chat_model(srv), mode="closed_loop",
                            branches=1, rounds=5, sandbox=sandbox, on_event=events.append)
        requests = srv.requests

    assert result.status == "pass", result.error
    assert result.chosen is not None and result.chosen["code"] == CORRECT
    assert result.best_kernel is not None and result.best_kernel.read_text() == CORRECT
    assert [c["status"] for c in result.candidates] == ["fail", "fail", "pass"]
    assert result.rounds == 3 and "correct kernel found" in (result.stop_reason or "")

    generate = requests_of(requests, "generate")
    assert len(generate) == 3 and len(requests_of(requests, "critic")) == 2
    round2, round3 = message_text(generate[1]), message_text(generate[2])
    # round 1's compile error, with the exact line, reaches round 2's prompt ...
    assert "syntax error" in round2 and "round1_branch0.py:16" in round2
    assert f">   16 | {BROKEN_LINE}" in round2
    assert BROKEN in round2, "the failed attempt is shown to the model"
    # ... and round 2's wrong output, with its pattern, reaches round 3's prompt
    assert "only the last index (999 of 0..999) is wrong" in round3
    assert "off-by-one" in round3 and "first wrong at index [999]" in round3
    assert OFF_BY_ONE in round3
    assert "Fix exactly what the verifier reported." in round3, "the critic's advice is used"
    assert "<think>" not in round3 and "Let me think" not in round3, "reasoning is not replayed"

    lines = [json.loads(line) for line in (result.run_dir / "candidates.jsonl").open()]
    assert [line["status"] for line in lines] == ["fail", "fail", "pass"]
    assert all(line["verdict"]["trials"] is not None for line in lines)
    report = result.report.read_text()
    assert result.chosen["id"] in report and "Speed not measured" in report

    kinds = [e["event"] for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "finished"
    assert [e["round"] for e in events if e["event"] == "round_started"] == [1, 2, 3]
    verified = [e for e in events if e["event"] == "candidate_verified"]
    assert [e["status"] for e in verified] == ["fail", "fail", "pass"]
    assert all(e["verify_s"] > 0 for e in verified)
    # two failing rounds each improved on the one before, but only a passing kernel is announced
    assert [(e["status"], e["round"]) for e in events if e["event"] == "new_best"] == [("pass", 3)]
