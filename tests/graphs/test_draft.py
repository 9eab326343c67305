"""A kernel asked for in prose: the graph drafts the reference problem, checks it in the sandbox,
waits for the person at an interrupt, then searches; a follow-up on the same thread revises the
reference and starts from the previous best kernel. Driven through a SQLite checkpointer, with
the real OpenAI client on the scripted server."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from kernel_agent.agent.prompts import STARTING_POINT
from kernel_agent.graphs import Context, build_graph
from kernel_agent.graphs.review import read_answer
from tests.openai_server import HttpError, ScriptedOpenAIServer, message_text

from .chat_scripts import (
    CORRECT_REVISED,
    FOLLOW_UP,
    PROSE,
    REFERENCE,
    REVISED,
    chat_script,
    drafter,
)
from .conftest import chat_model
from .scripts import CORRECT, DRAFT_FIX_MARK, is_draft, r1

STARTING_MARK = STARTING_POINT.split("(")[0].strip()
BUDGET = {"rounds": 2}


class Thread:
    """One conversation thread of the graph, checkpointed in SQLite, and what it streamed."""

    def __init__(self, graph: CompiledStateGraph, context: Context) -> None:
        self.graph, self.context = graph, context
        self.config = {"configurable": {"thread_id": "conversation"}}
        self.events: list[dict[str, Any]] = []

    def run(self, value: Any) -> Any:
        for event in self.graph.stream(value, self.config, context=self.context,
                                       stream_mode="custom"):
            self.events.append(event)
        return self.graph.get_state(self.config)

    def say(self, text: str) -> Any:
        return self.run({"messages": [HumanMessage(text)], "budget": BUDGET})

    def names(self) -> list[str]:
        return [e["event"] for e in self.events]


@contextmanager
def thread(tmp_path: Path, sandbox: Any, server: ScriptedOpenAIServer) -> Iterator[Thread]:
    with closing(sqlite3.connect(tmp_path / "checkpoints.sqlite",
                                 check_same_thread=False)) as conn:
        context = Context(model=chat_model(server), mode="closed_loop", sandbox=sandbox,
                          branches=1, run_dir=str(tmp_path / "run"))
        yield Thread(build_graph(checkpointer=SqliteSaver(conn)), context)


def review_of(state: Any) -> dict[str, Any]:
    (interrupt,) = state.interrupts
    assert state.next == ("review",)
    return interrupt.value


def test_prose_is_drafted_checked_approved_and_searched(tmp_path, sandbox):
    with ScriptedOpenAIServer(chat_script()) as server, thread(tmp_path, sandbox, server) as t:
        review = review_of(t.say(PROSE))
        asked_before_approval = server.requests
        final = t.run(Command(resume="yes"))
        requests = server.requests

    assert review["reference"] == REFERENCE and review["revision"] == 1
    assert review["validation"]["ok"] and review["validation"]["error"] is None
    assert "cpu" in review["validation"]["device"] and review["validation"]["gpu"] is False
    assert review["request"] == PROSE  # the person's words, not the model's summary
    assert len(asked_before_approval) == 1, "nothing but the draft before the person approves"
    assert PROSE in message_text(asked_before_approval[0])

    values = final.values
    assert not final.next and not final.interrupts
    assert values["chosen"]["code"] == CORRECT and "correct kernel found" in values["stop_reason"]
    saved = tmp_path / "run" / "search_1" / "reference.py"
    assert values["problem"] == {"text": REFERENCE, "path": str(saved)}
    assert saved.read_text() == REFERENCE
    generate = [r for r in requests[1:] if not is_draft(r)]
    assert generate and all("return 2 * x + b" in message_text(r) for r in generate)
    assert STARTING_MARK not in message_text(generate[-1]), "no earlier kernel to start from"
    names = t.names()
    assert names[:2] == ["reference_drafted", "reference_approved"]
    assert names[2] == "run_started" and names[-1] == "finished"
    conversation = values["messages"]
    assert isinstance(conversation[0], HumanMessage) and conversation[0].content == PROSE
    assert isinstance(conversation[1], AIMessage) and REFERENCE.strip() in conversation[1].content
    assert conversation[-1].content.startswith("Best kernel:")


def test_an_edited_reference_is_checked_and_used(tmp_path, sandbox):
    edited = REFERENCE.replace("torch.randn(16, 63), torch.randn(16, 63)]",
                               "torch.randn(7, 129), torch.randn(7, 129)]  # edited by hand")
    broken_edit = edited.replace("return 2 * x + b", "return 2 * x + b.unknown_attribute")
    with ScriptedOpenAIServer(chat_script()) as server, thread(tmp_path, sandbox, server) as t:
        review_of(t.say(PROSE))
        again = review_of(t.run(Command(resume=broken_edit)))  # a file as a string: an edit
        final = t.run(Command(resume={"edit": edited}))
        requests = server.requests

    assert again["origin"] == "edited" and again["reference"] == broken_edit
    assert not again["validation"]["ok"] and "does not run" in again["validation"]["error"]
    assert again["revision"] == 2
    assert sum(is_draft(r) for r in requests) == 1, "edits are checked, not redrafted"
    values = final.values
    assert values["problem"]["text"] == edited and values["chosen"]["code"] == CORRECT
    generate = [r for r in requests if not is_draft(r)]
    assert all("# edited by hand" in message_text(r) for r in generate if "ModelNew" in
               message_text(r))
    assert (tmp_path / "run" / "search_1" / "reference.py").read_text() == edited


def test_a_draft_that_does_not_run_is_repaired_with_the_error(tmp_path, sandbox):
    broken = REFERENCE.replace("return 2 * x + b", "return 2 * x + b.unknown_attribute")

    def draft_broken_first(request: dict) -> Any:
        return drafter(request) if DRAFT_FIX_MARK in message_text(request) else r1(broken)

    with ScriptedOpenAIServer(chat_script(draft_broken_first)) as server, \
            thread(tmp_path, sandbox, server) as t:
        review = review_of(t.say(PROSE))
        requests = server.requests

    assert len(requests) == 2 and all(is_draft(r) for r in requests)
    repair = message_text(requests[1])
    assert DRAFT_FIX_MARK in repair and "unknown_attribute" in repair
    assert broken in repair, "the model sees its own file with the error"
    assert review["reference"] == REFERENCE and review["validation"]["ok"]
    drafted = [e for e in t.events if e["event"] == "reference_drafted"]
    assert [(e["attempt"], e["ok"]) for e in drafted] == [(1, False), (2, True)]
    assert "unknown_attribute" in drafted[0]["error"]


def test_a_follow_up_revises_the_reference_and_starts_from_the_best_kernel(tmp_path, sandbox):
    with ScriptedOpenAIServer(chat_script()) as server, thread(tmp_path, sandbox, server) as t:
        review_of(t.say(PROSE))
        first = t.run(Command(resume="yes")).values
        asked_first = len(server.requests)
        revision = review_of(t.say(FOLLOW_UP))
        second = t.run(Command(resume="y")).values
        later = server.requests[asked_first:]

    assert first["chosen"]["code"] == CORRECT
    draft_request = message_text(later[0])
    assert is_draft(later[0]) and FOLLOW_UP in draft_request and PROSE in draft_request
    assert "return 2 * x + b" in draft_request, "the previous reference is what is revised"
    assert revision["reference"] == REVISED and revision["revision"] == 1

    generate = [message_text(r) for r in later[1:] if "Optimisation idea" in message_text(r)]
    assert generate and STARTING_MARK in generate[0] and CORRECT.strip() in generate[0]
    assert "return 3 * x + b" in generate[0]
    assert second["chosen"]["code"] == CORRECT_REVISED
    assert "correct kernel found" in second["stop_reason"] and second["round"] == 1
    assert second["problem"]["path"] == str(tmp_path / "run" / "search_2" / "reference.py")
    assert revision["request"] == second["request"] == f"{PROSE} Then: {FOLLOW_UP}"
    assert [c["id"] for c in second["candidates"]] == [second["chosen"]["id"]]

    (archived,) = second["searches"]
    assert archived["chosen"] == first["chosen"] and archived["problem"] == first["problem"]
    assert [c["id"] for c in archived["candidates"]] == [first["chosen"]["id"]]
    recorded = [json.loads(line) for line in (tmp_path / "run" / "candidates.jsonl").open()]
    assert [c["id"] for c in recorded] == [first["chosen"]["id"], second["chosen"]["id"]]
    assert len({c["id"] for c in recorded}) == 2, "same branch and round, different problems"
    assert t.names().count("run_started") == 2 and t.names().count("finished") == 2


def test_a_new_problem_file_on_the_thread_is_searched_as_it_is(tmp_path, sandbox):
    """Not a follow-up: no drafting, no starting point, and the file wins over the source text
    the earlier, drafted search left in the state."""
    problem = tmp_path / "revised_problem.py"
    problem.write_text(REVISED)
    with ScriptedOpenAIServer(chat_script()) as server, thread(tmp_path, sandbox, server) as t:
        review_of(t.say(PROSE))
        first = t.run(Command(resume="yes")).values
        asked_first = len(server.requests)
        state = t.run({"problem_path": str(problem)})
        later = server.requests[asked_first:]

    assert not state.next and first["problem"]["text"] == REFERENCE
    values = state.values
    assert values["problem"] == {"text": REVISED, "path": str(problem)}
    assert values["request"] == "Scale x by three and add b, elementwise, in float32."
    assert values["chosen"]["code"] == CORRECT_REVISED and len(values["searches"]) == 1
    assert not any(is_draft(r) for r in later)
    assert not any(STARTING_MARK in message_text(r) for r in later)


def test_drafting_without_a_working_endpoint_ends_the_turn_with_the_error(tmp_path, sandbox):
    failing = chat_script(lambda request: HttpError(500, "drafting is down",
                                                    headers={"x-should-retry": "false"}))
    with ScriptedOpenAIServer(failing) as server, thread(tmp_path, sandbox, server) as t:
        state = t.say(PROSE)

    assert not state.next and not state.interrupts
    assert "drafting the reference problem failed" in state.values["error"]
    assert "drafting is down" in state.values["error"]
    assert state.values["messages"][-1].content.startswith("I could not draft")
    assert "finished" not in t.names(), "no search ran"


@pytest.mark.parametrize(("value", "kind"), [
    ("yes", "approve"), ("", "approve"), (" Y ", "approve"), (True, "approve"),
    ({"approve": True}, "approve"), ("make it bf16", "change"),
    ({"change": "use D=64"}, "change"), (REFERENCE, "edit"),
    ("class Model(nn.Module:\n    broken", "edit"), ({"edit": REFERENCE}, "edit"),
])
def test_review_answers_are_read_as_decisions(value, kind):
    assert read_answer(value).kind == kind


@pytest.mark.parametrize("value", [3, {"edit": "  "}, {"what": "yes"}])
def test_a_review_answer_that_means_nothing_is_refused(value):
    with pytest.raises((TypeError, ValueError), match="review answer"):
        read_answer(value)
