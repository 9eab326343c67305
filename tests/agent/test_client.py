"""The chat model from make_chat_model (the real ChatOpenAI) against the scripted server: round
trips, tool calls, timeouts, garbage, rate limiting, concurrency and usage. Retries happen within
the search's budget, in graphs/modelcall.py: tests/graphs/test_model_calls.py."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest
from langchain_core.exceptions import ModelAPIError, ModelTimeoutError
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from kernel_agent.agent.models import (
    MalformedResponseError,
    describe_error,
    make_chat_model,
    resolve_config,
)
from kernel_agent.agent.usage import Prices, UsageTracker
from tests.openai_server import (
    Garbage,
    Hang,
    HttpError,
    Reply,
    ScriptedOpenAIServer,
    ToolCall,
    Unstreamed,
    Usage,
    message_text,
)

KEY = "sk-scripted-key"


def chat_model(server: ScriptedOpenAIServer, **settings: Any) -> BaseChatModel:
    overrides = {"base_url": server.base_url, "model": "scripted-r1", "api_key": KEY, **settings}
    return make_chat_model(resolve_config("local", overrides, env={}))


def compile_kernel(code: str, arch: str = "sm_90") -> str:
    """Compile a candidate and report registers and spills."""
    return f"compiled {len(code)} chars for {arch}"


@pytest.mark.parametrize("streaming", [False, True])
def test_round_trip_returns_content_reasoning_and_usage(streaming: bool) -> None:
    reply = Reply("the answer", reasoning_content="the thinking",
                  usage=Usage(prompt_tokens=120, completion_tokens=900, reasoning_tokens=700))
    with ScriptedOpenAIServer([reply], api_key=KEY) as server:
        answer = chat_model(server, streaming=streaming, max_tokens=4096,
                            temperature=0.25).invoke("write a kernel")
        [sent] = server.requests
        [record] = server.records
    assert answer.content == "the answer"
    assert answer.additional_kwargs["reasoning_content"] == "the thinking"
    assert answer.response_metadata["finish_reason"] == "stop"
    assert answer.usage_metadata is not None
    assert answer.usage_metadata["input_tokens"] == 120
    assert answer.usage_metadata["output_tokens"] == 900
    assert answer.usage_metadata["output_token_details"]["reasoning"] == 700
    assert sent["model"] == "scripted-r1" and sent["max_tokens"] == 4096
    assert sent["temperature"] == 0.25
    assert sent["messages"] == [{"role": "user", "content": "write a kernel"}]
    assert bool(sent.get("stream")) is streaming
    if streaming:
        assert sent["stream_options"] == {"include_usage": True}
    assert record.headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize("streaming", [False, True])
def test_tool_calls_are_parsed_and_results_go_back(streaming: bool) -> None:
    calls = [ToolCall("compile_kernel", {"code": "x" * 40, "arch": "sm_80"}, id="call_a"),
             ToolCall("compile_kernel", {"code": "y"}, id="call_b")]
    with ScriptedOpenAIServer([Reply(None, tool_calls=calls), Reply("submitted")]) as server:
        model = chat_model(server, streaming=streaming).bind_tools([compile_kernel])
        first = model.invoke("optimise this")
        assert isinstance(first, AIMessage)
        assert first.response_metadata["finish_reason"] == "tool_calls"
        assert [(c["name"], c["args"], c["id"]) for c in first.tool_calls] == [
            ("compile_kernel", {"code": "x" * 40, "arch": "sm_80"}, "call_a"),
            ("compile_kernel", {"code": "y"}, "call_b")]
        results = [ToolMessage(compile_kernel(**c["args"]), tool_call_id=c["id"])
                   for c in first.tool_calls]
        second = model.invoke([HumanMessage("optimise this"), first, *results])
        tools_offered, follow_up = server.requests
    assert second.content == "submitted"
    assert tools_offered["tools"][0]["function"]["name"] == "compile_kernel"
    assert set(tools_offered["tools"][0]["function"]["parameters"]["properties"]) == {
        "code", "arch"}
    sent_back = follow_up["messages"]
    assert [m["role"] for m in sent_back] == ["user", "assistant", "tool", "tool"]
    assert [c["id"] for c in sent_back[1]["tool_calls"]] == ["call_a", "call_b"]
    assert sent_back[2] == {"role": "tool", "tool_call_id": "call_a",
                            "content": "compiled 40 chars for sm_80"}


def test_reasoning_is_not_sent_back_in_the_history() -> None:
    """DeepSeek rejects requests whose history carries reasoning_content."""
    with ScriptedOpenAIServer([Reply("a1", reasoning_content="secret thoughts"),
                               Reply("a2")]) as server:
        model = chat_model(server)
        first = model.invoke("q1")
        model.invoke([HumanMessage("q1"), first, HumanMessage("q2")])
        history = server.requests[1]["messages"]
    assert history[1] == {"role": "assistant", "content": "a1"}
    assert "secret thoughts" not in str(history)


def test_the_client_itself_does_not_retry() -> None:
    """Its backoff knows no deadline: graphs/modelcall.py retries, within the budget."""
    with ScriptedOpenAIServer([HttpError(500, "upstream overloaded"), Reply("late")]) as server:
        model = chat_model(server, max_retries=3)
        with pytest.raises(ModelAPIError) as caught:
            model.invoke("go")
        assert len(server.requests) == 1
    assert model.retries == 3
    assert "upstream overloaded" in describe_error(caught.value)


@pytest.mark.parametrize("streaming", [False, True])
def test_a_hanging_endpoint_times_out_within_timeout_s(streaming: bool) -> None:
    with ScriptedOpenAIServer([Hang()]) as server:
        model = chat_model(server, timeout_s=1, max_retries=0, streaming=streaming)
        started = time.monotonic()
        with pytest.raises(ModelTimeoutError) as caught:
            model.invoke("go")
        elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 1.0 + 0.75
    assert "timeout 1.0 s per attempt" in describe_error(caught.value)


def test_a_hanging_endpoint_times_out_on_the_async_path_too() -> None:
    with ScriptedOpenAIServer([Hang()]) as server:
        model = chat_model(server, timeout_s=1, max_retries=0, streaming=True)
        started = time.monotonic()
        with pytest.raises(ModelTimeoutError):
            asyncio.run(model.ainvoke("go"))
        assert time.monotonic() - started < 1.0 + 0.75


@pytest.mark.parametrize("streaming, garbage", [
    (False, Garbage()),
    (True, Garbage()),  # no chunks: asked again for one body, which is garbage too
    (True, Garbage("data: {not json\n\n", content_type="text/event-stream")),
    (False, Garbage('{"object": "chat.completion"}', content_type="application/json")),
    (False, Garbage('{"error": {"message": "upstream died"}}', content_type="application/json")),
])
def test_garbage_is_a_clear_error(streaming: bool, garbage: Garbage) -> None:
    with ScriptedOpenAIServer([garbage, garbage]) as server, \
            pytest.raises(MalformedResponseError) as caught:
        chat_model(server, streaming=streaming, max_retries=0).invoke("go")
    text = describe_error(caught.value)
    assert "not an OpenAI chat completion" in text
    assert server.base_url in text


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_an_endpoint_that_does_not_stream_is_asked_for_one_body(asynchronous: bool) -> None:
    """A streamed request answered with one JSON body yields no chunks, and that answer is lost:
    it is asked for again as one body, whole (reasoning, tool calls, usage). After two such
    answers in a row the client stops asking for streams."""
    call = ToolCall("compile_kernel", {"code": "x = 1", "arch": "sm_90"}, id="call_1")
    script = [Unstreamed(Reply("lost")),
              Unstreamed(Reply(None, reasoning_content="why", tool_calls=[call])),
              Unstreamed(Reply("lost again")), Unstreamed(Reply("second")),
              Unstreamed(Reply("third"))]
    with ScriptedOpenAIServer(script) as server:
        model = chat_model(server, streaming=True)

        async def in_turn() -> list[Any]:
            return [await model.ainvoke("go") for _ in range(3)]

        first, second, third = (asyncio.run(in_turn()) if asynchronous
                                else [model.invoke("go") for _ in range(3)])
        streamed = [bool(body.get("stream")) for body in server.requests]
    assert streamed == [True, False, True, False, False]
    assert [(c["name"], c["args"], c["id"]) for c in first.tool_calls] == [
        ("compile_kernel", {"code": "x = 1", "arch": "sm_90"}, "call_1")]
    assert first.additional_kwargs["reasoning_content"] == "why"
    assert first.usage_metadata is not None and first.usage_metadata["output_tokens"] > 0
    assert (second.content, third.content) == ("second", "third")


def test_one_empty_stream_does_not_turn_streaming_off() -> None:
    with ScriptedOpenAIServer([Garbage(), Reply("one body"), Reply("streamed")]) as server:
        model = chat_model(server, streaming=True)
        assert [model.invoke("go").content for _ in range(2)] == ["one body", "streamed"]
        assert [bool(body.get("stream")) for body in server.requests] == [True, False, True]


def test_the_rate_limiter_spaces_requests() -> None:
    prompts = [f"p{i}" for i in range(5)]
    with ScriptedOpenAIServer(lambda request: Reply("ok")) as server:
        chat_model(server).batch(prompts, config={"max_concurrency": 5})
        unlimited = [r.at for r in server.records]
    with ScriptedOpenAIServer(lambda request: Reply("ok")) as server:
        chat_model(server, requests_per_second=10).batch(prompts, config={"max_concurrency": 5})
        limited = sorted(r.at for r in server.records)
    gaps = [b - a for a, b in itertools.pairwise(limited)]
    assert max(unlimited) - min(unlimited) < 0.2  # without the limiter they arrive together
    assert min(gaps) >= 0.07 and limited[-1] - limited[0] >= 0.35


def test_eight_branches_at_once_take_about_one_delay_not_eight() -> None:
    """K=8 requests, each answered after 1 s by what its prompt asks: the server answers them
    in parallel, each branch gets its own answer, and the usage adds up exactly."""

    def by_prompt(request: dict[str, Any]) -> Reply:
        branch = int(message_text(request).split()[-1])
        return Reply(f"kernel for branch {branch}", delay_s=1.0,
                     usage=Usage(prompt_tokens=10 + branch, completion_tokens=100,
                                 reasoning_tokens=60))

    tracker = UsageTracker()
    with ScriptedOpenAIServer(by_prompt) as server:
        model = make_chat_model(
            resolve_config("local", {"base_url": server.base_url, "model": "m"}, env={}),
            callbacks=[tracker])
        started = time.monotonic()
        answers = model.batch([f"branch {k}" for k in range(8)], config={"max_concurrency": 8})
        elapsed = time.monotonic() - started
    assert [a.content for a in answers] == [f"kernel for branch {k}" for k in range(8)]
    assert elapsed < 3.0
    total = tracker.total
    assert (total.requests, total.failed_requests, total.unreported) == (8, 0, 0)
    assert total.prompt_tokens == sum(10 + k for k in range(8))
    assert (total.completion_tokens, total.reasoning_tokens) == (800, 480)
    assert total.cost(Prices(input_per_mtok=1.0, output_per_mtok=2.0)) == pytest.approx(
        (108 * 1.0 + 800 * 2.0) / 1e6)
