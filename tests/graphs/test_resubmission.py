"""A file the run has verified before is not verified again: its verdict is reused at once, the
resubmission is recorded as a candidate of its own, and the next prompt says it was resubmitted.
"""

from __future__ import annotations

import json

from langgraph.graph import START, StateGraph
from typing_extensions import TypedDict

from kernel_agent.graphs import run_search
from kernel_agent.graphs.context import Context
from kernel_agent.graphs.resubmission import normalised
from kernel_agent.graphs.state import VerifyTask
from kernel_agent.graphs.verify import candidate_id, verified_once
from tests.openai_server import ScriptedOpenAIServer, message_text

from .conftest import chat_model
from .scripts import (
    BROKEN,
    CORRECT,
    OFF_BY_ONE,
    PROBLEM,
    CountingSandbox,
    Router,
    r1,
    requests_of,
)

# The same file as BROKEN, with a comment, a blank line and trailing spaces added.
BROKEN_AGAIN = "# second try\n" + BROKEN.replace("import torch\n", "import torch   \n\n", 1)


def test_a_resubmitted_file_is_not_verified_again_and_the_model_is_told(tmp_path, sandbox):
    rounds = {1: BROKEN, 2: BROKEN_AGAIN, 3: CORRECT}
    counting = CountingSandbox(sandbox, tmp_path / "verify_calls.log")
    events: list[dict] = []
    with ScriptedOpenAIServer(Router(lambda n, *_: r1(rounds[n]), ["one block"])) as server:
        result = run_search(PROBLEM, tmp_path / "run", model=chat_model(server),
                            mode="closed_loop", branches=1, rounds=3, sandbox=counting,
                            on_event=events.append, use_memory=False)
        generate = [message_text(r) for r in requests_of(server.requests, "generate")]

    assert result.status == "pass"
    verified = counting.verified()
    assert [line.split()[0] for line in verified] == ["round1_branch0.py", "round3_branch0.py"]
    first, again, correct = result.candidates
    assert again["same_as"] == first["id"] and again["id"] != first["id"]
    assert again["code"] == BROKEN_AGAIN and again["status"] == "fail"
    assert again["verdict"] == first["verdict"] and again["verify_s"] == 0.0
    assert f"identical to candidate {first['id']} (round 1, branch 0)" in again["note"]
    assert again["headline"].startswith(f"the same code as candidate {first['id']}")
    assert "same_as" not in first and "same_as" not in correct

    round2, round3 = generate[1], generate[2]
    assert "resubmitted" not in round2
    assert f"you resubmitted the same code as candidate {first['id']}" in round3
    assert "so it was not verified again" in round3 and "syntax error" in round3

    reused = [e for e in events if e["event"] == "candidate_verified" and e["reused"]]
    assert [(e["round"], e["same_as"]) for e in reused] == [(2, first["id"])]
    recorded = [json.loads(line) for line in (result.run_dir / "candidates.jsonl").open()]
    assert [c.get("same_as") for c in recorded] == [None, first["id"], None]


def test_branches_sending_the_same_file_in_one_round_verify_it_once(tmp_path, sandbox):
    """Both branches answer the same file at once: one verification, and the resubmission is no
    finalist of its own (select would re-time the same code against itself)."""
    counting = CountingSandbox(sandbox, tmp_path / "verify_calls.log")
    events: list[dict] = []
    ideas = ["one block", "two blocks"]
    with ScriptedOpenAIServer(Router(lambda *_: r1(CORRECT), ideas)) as server:
        result = run_search(PROBLEM, tmp_path / "run", model=chat_model(server),
                            mode="closed_loop", branches=2, rounds=1, sandbox=counting,
                            on_event=events.append, use_memory=False)
    assert result.status == "pass" and len(counting.verified()) == 1
    original, again = sorted(result.candidates, key=lambda c: "same_as" in c)
    assert again["same_as"] == original["id"] and result.chosen == original
    retimed = next(e for e in events if e["event"] == "retimed")
    assert retimed["reason"] == "only one passing candidate: nothing to compare"


def task(code: str, round_: int, branch: int = 0, problem: str | None = None) -> VerifyTask:
    text = PROBLEM.read_text() if problem is None else problem
    return VerifyTask(branch=branch, round=round_, idea="one block", code=code, note="",
                      problem={"text": text, "path": str(PROBLEM)}, model_s=1.0, tokens=10,
                      failure=None)


class Step(TypedDict, total=False):
    task: VerifyTask
    candidate: dict


def verify_as(context: Context, work: VerifyTask) -> dict:
    """The verify step for `work`, run as a graph node of its own (it streams events)."""

    def step(state: Step) -> Step:
        code = state["task"]["code"]
        assert code is not None
        cid = candidate_id(state["task"]["round"], state["task"]["branch"], code,
                           state["task"]["problem"]["text"])
        return {"candidate": dict(verified_once(state["task"], cid, context))}

    graph = StateGraph(Step).add_node("verify", step).add_edge(START, "verify").compile()
    return graph.invoke({"task": work})["candidate"]


def test_the_ledger_outlives_the_process_and_is_kept_per_problem(tmp_path, sandbox):
    """A resumed run has a new Context and only the run directory: it still knows the verdict.
    The same file for another problem (a conversation's later search) is verified anew."""
    counting = CountingSandbox(sandbox, tmp_path / "verify_calls.log")

    def fresh() -> Context:
        return Context(sandbox=counting, run_dir=str(tmp_path / "run"), use_memory=False)

    first = verify_as(fresh(), task(OFF_BY_ONE, 1))
    again = verify_as(fresh(), task(OFF_BY_ONE + "\n\n# unchanged\n", 4, branch=1))
    other_problem = PROBLEM.read_text() + "\n# a revised reference\nN = 1\n"
    elsewhere = verify_as(fresh(), task(OFF_BY_ONE, 5, problem=other_problem))
    assert [line.split()[0] for line in counting.verified()] == [
        "round1_branch0.py", "round5_branch0.py"]
    assert again["same_as"] == first["id"] and again["status"] == first["status"] == "fail"
    assert "same_as" not in elsewhere


def test_only_what_cannot_change_the_meaning_is_set_aside() -> None:
    assert normalised("x = 1  # one\n\n\ny = 'a'\n") == normalised("x = 1\ny = \"a\"")
    assert normalised("x = 1\n") != normalised("x = 2\n")
    broken = "def f(x) int:\n    return x\n"
    assert normalised(broken) == normalised("# note\n" + broken.replace("\n", "   \n") + "\n\n")
    assert normalised(broken) != normalised(broken.replace("return x", "return -x"))
