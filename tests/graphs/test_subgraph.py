"""The search embedded as a node of another agent's graph, whose context is its own: the search
runs with the context bound at build time, its progress events reach the parent's stream, and
its result lands in the parent's state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

import pytest
from langchain_core.messages import AIMessage, AnyMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

from kernel_agent.graphs import Context, build_graph
from tests.openai_server import ScriptedOpenAIServer

from .conftest import chat_model
from .scripts import CORRECT, PROBLEM, Router, r1


@dataclass
class AppContext:
    user: str


class AppState(TypedDict, total=False):
    problem_path: str
    budget: dict[str, Any]
    messages: Annotated[list[AnyMessage], add_messages]
    chosen: dict[str, Any] | None
    stop_reason: str


def test_search_as_a_subgraph_of_another_agent(sandbox):
    with ScriptedOpenAIServer(Router(lambda *_: r1(CORRECT), ["one block per program"])) as srv:
        search = build_graph(context=Context(model=chat_model(srv), mode="closed_loop",
                                             sandbox=sandbox, branches=1))
        app = (StateGraph(AppState, context_schema=AppContext)
               .add_node("search", search).add_edge(START, "search").add_edge("search", END)
               .compile())
        parts = list(app.stream({"problem_path": str(PROBLEM), "budget": {"rounds": 2}},
                                context=AppContext(user="someone"),
                                stream_mode=["custom", "values"], subgraphs=True))

    events = [(namespace, data) for namespace, mode, data in parts if mode == "custom"]
    assert events and all(ns and ns[0].startswith("search:") for ns, _ in events)
    assert [data["event"] for _, data in events][-1] == "finished"
    final = [data for namespace, mode, data in parts if mode == "values" and not namespace][-1]
    assert final["chosen"]["code"] == CORRECT and "correct kernel found" in final["stop_reason"]
    answer = final["messages"][-1]
    assert isinstance(answer, AIMessage) and answer.content.startswith("Best kernel:")


def test_studio_can_describe_the_module_level_graph():
    """langgraph dev / Studio render these schemas; objects in the context stay out of them."""
    from kernel_agent.graphs.graph import graph

    context = graph.get_context_jsonschema()["properties"]
    assert {"branches", "mode", "target_speedup", "run_dir"} <= set(context)
    assert not {"model", "critic_model", "sandbox"} & set(context)
    assert {"problem_path", "problem_text", "request", "budget", "messages"} == set(
        graph.get_input_jsonschema()["properties"])
    assert "chosen" in graph.get_output_jsonschema()["properties"]


def test_a_profile_in_plain_data_picks_the_model(monkeypatch):
    """What Studio or a server run can send: `profile` by name, the rest from the environment."""
    from kernel_agent.graphs.graph import graph

    assert "profile" in graph.get_context_jsonschema()["properties"]
    monkeypatch.setenv("KERNEL_AGENT_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("KERNEL_AGENT_MODEL", "served-model")
    model = Context(profile="local").generator()
    assert model.model_name == "served-model"
    assert model.openai_api_base == "http://127.0.0.1:9/v1"
    with pytest.raises(ValueError, match="unknown profile 'nope'"):
        Context(profile="nope").generator()
