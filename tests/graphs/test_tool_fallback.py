"""Tool-calling mode against real endpoint behaviour: a server that refuses tools (HTTP 400)
moves the run to the closed loop; what goes back to the model never holds its reasoning and is
capped; a round without code says why."""

from __future__ import annotations

import json
from pathlib import Path

from kernel_agent.agent.models import ModelConfig
from kernel_agent.graphs import run_search
from kernel_agent.graphs.context import TOOLS_REFUSED
from kernel_agent.tools.feedback import ANSWER_CHARS
from tests.openai_server import HttpError, Reply, ScriptedOpenAIServer, ToolCall

from .conftest import chat_model
from .scripts import CORRECT, OFF_BY_ONE, PROBLEM, Router, r1, requests_of

VLLM_400 = ('"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser '
            'to be set')
IDEAS = ["one block per program", "two blocks per program"]


def without_tool_parser(round_: int, idea: str, request: dict) -> Reply | HttpError:
    """vLLM started without a tool parser: 400 for any request carrying tools."""
    if "tools" in request:
        return HttpError(400, VLLM_400)
    return r1(OFF_BY_ONE if round_ == 1 else CORRECT)


def test_an_endpoint_that_refuses_tools_gets_the_closed_loop_for_the_run(tmp_path, sandbox):
    with ScriptedOpenAIServer(Router(without_tool_parser, IDEAS)) as server:
        config = ModelConfig(profile="local", model="Qwen/Qwen3-32B", base_url=server.base_url,
                             timeout_s=30.0, max_retries=1)
        result = run_search(PROBLEM, tmp_path / "run", model=config, branches=2, rounds=2,
                            sandbox=sandbox)
        generate = requests_of(server.requests, "generate")

    assert result.status == "pass", result.error
    with_tools = [r for r in generate if "tools" in r]
    assert 1 <= len(with_tools) <= 2, "tools are tried once per branch at most, in round 1"
    assert generate[-1] not in with_tools and len(generate) == len(with_tools) + 4
    assert [c["round"] for c in result.candidates].count(1) == 2, "round 1 still counted"
    first = [c for c in result.candidates if c["round"] == 1]
    assert any("refused tool calling" in c["note"] for c in first), first
    assert "tool-call-parser" in (result.run_dir / TOOLS_REFUSED).read_text()


SECRET = "SECRET-REASONING "


def thinker(round_: int, idea: str, request: dict) -> Reply:
    """Tests a draft with a long reasoning, then twice answers in prose without code."""
    turns = sum(1 for m in request["messages"] if m["role"] == "assistant")
    if turns == 0:
        return Reply(content="<think>INLINE-SECRET</think>Testing the draft.",
                     reasoning_content=SECRET * 2000,
                     tool_calls=[ToolCall("test_kernel", {"code": OFF_BY_ONE})])
    return Reply(content="<think>SECRET again</think>" + "The kernel looks right to me. " * 300)


def test_reasoning_never_goes_back_and_a_round_without_code_says_why(tmp_path, sandbox):
    with ScriptedOpenAIServer(Router(thinker, ["one block per program"])) as server:
        result = run_search(PROBLEM, tmp_path / "run", model=chat_model(server), mode="tools",
                            branches=1, rounds=1, sandbox=sandbox)
        generate = requests_of(server.requests, "generate")

    assert len(generate) == 3, "one tool turn, then two answers without code"
    for request in generate[1:]:
        sent = json.dumps(request["messages"])
        assert "SECRET" not in sent
        for message in request["messages"]:
            if message["role"] == "assistant":
                assert len(message.get("content") or "") <= ANSWER_CHARS
    echoed = [m for m in generate[2]["messages"] if m["role"] == "assistant"][-1]["content"]
    assert "[cut: " in echoed and "characters in all" in echoed
    kept = echoed.split("the whole text is in ")[1].split("]")[0]
    assert "The kernel looks right to me." in Path(kept).read_text()
    failure = result.failures[0]
    assert failure["kind"] == "no_code"
    assert "no usable code in 2 answer(s)" in failure["message"], failure
    assert "test_kernel" in failure["message"] and "model turns" not in failure["message"]
