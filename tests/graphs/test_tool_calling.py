"""Tool-calling mode: the model compiles and tests drafts with the project's tools, then
submits; the graph verifies the submission like any other candidate."""

from __future__ import annotations

from kernel_agent.graphs import run_search
from tests.openai_server import Reply, ScriptedOpenAIServer, ToolCall

from .conftest import chat_model
from .scripts import BROKEN, CORRECT, OFF_BY_ONE, PROBLEM, Router, requests_of

STEPS = [ToolCall("compile_kernel", {"code": BROKEN}),
         ToolCall("test_kernel", {"code": OFF_BY_ONE}),
         ToolCall("submit_kernel", {"code": CORRECT})]


def tool_user(round_: int, idea: str, request: dict) -> Reply:
    """Each turn, the next step: how many tool answers the request carries tells which."""
    answered = sum(1 for m in request["messages"] if m["role"] == "tool")
    return Reply(content="", tool_calls=[STEPS[answered]])


def test_model_compiles_tests_then_submits(tmp_path, sandbox):
    with ScriptedOpenAIServer(Router(tool_user, ["one block per program"])) as server:
        result = run_search(PROBLEM, tmp_path / "run", model=chat_model(server), mode="tools",
                            branches=1, rounds=3, sandbox=sandbox)
        generate = requests_of(server.requests, "generate")

    assert result.status == "pass", result.error
    assert result.chosen is not None and result.chosen["code"] == CORRECT
    assert [c["status"] for c in result.candidates] == ["pass"], "only the submission is judged"
    assert "compile_kernel, test_kernel" in result.chosen["note"]

    assert len(generate) == 3
    offered = {tool["function"]["name"] for tool in generate[0]["tools"]}
    assert {"compile_kernel", "test_kernel", "profile_kernel", "inspect_kernel",
            "submit_kernel"} <= offered
    compiled = [m for m in generate[1]["messages"] if m["role"] == "tool"]
    assert len(compiled) == 1, "the compile result went back to the model"
    assert "syntax error" in compiled[0]["content"] and ":16" in compiled[0]["content"]
    tested = [m for m in generate[2]["messages"] if m["role"] == "tool"][-1]["content"]
    assert "FAIL" in tested and "index [999]" in tested, tested
    workspace = result.run_dir / "workspaces" / "round01-branch0"
    assert (workspace / "candidates").is_dir(), "the tools kept their files in the run dir"
