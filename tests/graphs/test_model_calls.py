"""Model calls within the budget (graphs/modelcall.py): the real ChatOpenAI client against the
fault-injecting server. Retries honour Retry-After and the deadline; a hung or stalled endpoint
is given up at the deadline whatever the client's own timeout; what cannot succeed on another
try is not retried."""

from __future__ import annotations

import time

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage

from kernel_agent.graphs import modelcall
from kernel_agent.graphs.modelcall import (
    ENDPOINT_REFUSED,
    MODEL_ERROR,
    OUT_OF_BUDGET,
    REQUEST_REFUSED,
    ModelCallFailed,
    ask,
    bounded,
    within,
)
from tests.openai_server import (
    Cut,
    Garbage,
    Hang,
    HttpError,
    Reply,
    ScriptedOpenAIServer,
    Stall,
    Unstreamed,
)

from .conftest import chat_model

GO = [HumanMessage("go")]
FAST_RETRY = {"retry-after-ms": "20"}


@pytest.mark.parametrize("streaming", [False, True])
def test_every_transport_fault_is_retried_until_an_answer_comes(streaming: bool,
                                                               monkeypatch) -> None:
    monkeypatch.setattr(modelcall, "BACKOFF_S", 0.01)
    faults = [HttpError(500, headers=FAST_RETRY), HttpError(503, headers=FAST_RETRY),
              Garbage(), Garbage(status=502), Cut()]
    with ScriptedOpenAIServer([*faults, Reply("finally")]) as server:
        reply = ask(chat_model(server, max_retries=len(faults), streaming=streaming), GO)
        assert len(server.requests) == len(faults) + 1
    assert reply.message.content == "finally"


def test_persistent_errors_fail_clearly_after_the_retries() -> None:
    """No Retry-After: doubling waits of about 1 s then 2 s (less at most 25% jitter)."""
    with ScriptedOpenAIServer([HttpError(500, "upstream overloaded")] * 3) as server:
        started = time.monotonic()
        with pytest.raises(ModelCallFailed) as caught:
            ask(chat_model(server, max_retries=2), GO)
        elapsed = time.monotonic() - started
        assert len(server.requests) == 3
    assert 0.75 * (1 + 2) <= elapsed < 3 + 1.5
    text = str(caught.value)
    assert caught.value.kind == MODEL_ERROR
    assert "500" in text and "upstream overloaded" in text and "gave up after 3 tries" in text
    assert f"at {server.base_url}" in text


def test_rate_limits_wait_as_retry_after_asks() -> None:
    with ScriptedOpenAIServer([HttpError(429, "slow down", retry_after=1), Reply("ok")]) as server:
        assert ask(chat_model(server, max_retries=1), GO).message.content == "ok"
        first, second = server.records
    assert second.at - first.at >= 0.95


def test_a_wait_past_the_deadline_is_not_slept() -> None:
    """The endpoint asks for 30 s, the budget has 5: give up at once, saying why."""
    with ScriptedOpenAIServer([HttpError(429, "slow down", retry_after=30), Reply("ok")]) as server:
        started = time.monotonic()
        with within(time.time() + 5), pytest.raises(ModelCallFailed) as caught:
            ask(chat_model(server, max_retries=3), GO)
        assert time.monotonic() - started < 1.0
        assert len(server.requests) == 1
    assert caught.value.retry_after == 30
    assert "waiting 30 s as asked" in str(caught.value)


@pytest.mark.parametrize("asked", [3600, float("inf")])
def test_a_wait_longer_than_any_call_should_hold_is_not_slept_even_without_a_deadline(
        asked: float) -> None:
    """An endpoint asking for an hour (or for ever) is not waited for inside the call: the
    search's back-off and breaker deal with it."""
    with ScriptedOpenAIServer([HttpError(429, "slow down", retry_after=asked),
                               Reply("ok")]) as server:
        started = time.monotonic()
        with pytest.raises(ModelCallFailed) as caught:
            ask(chat_model(server, max_retries=3), GO)
        assert time.monotonic() - started < 5.0 and len(server.requests) == 1
    assert caught.value.retry_after == asked and caught.value.kind == MODEL_ERROR
    assert "asked to wait" in str(caught.value)


def test_a_refusal_says_whether_every_request_or_this_one_was_refused() -> None:
    for status, kind in ((401, ENDPOINT_REFUSED), (404, ENDPOINT_REFUSED),
                         (400, REQUEST_REFUSED), (413, REQUEST_REFUSED)):
        with ScriptedOpenAIServer([HttpError(status, "no"), Reply("ok")]) as server:
            with pytest.raises(ModelCallFailed) as caught:
                ask(chat_model(server, max_retries=3), GO)
            assert len(server.requests) == 1
        assert caught.value.kind == kind, status


def test_requests_that_cannot_succeed_are_not_retried() -> None:
    with ScriptedOpenAIServer([HttpError(400, "bad request"), Reply("ok")]) as server:
        with pytest.raises(ModelCallFailed, match="bad request"):
            ask(chat_model(server, max_retries=3), GO)
        assert len(server.requests) == 1


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize("fault", [Hang(), Stall()], ids=["hang", "stall"])
def test_a_hung_endpoint_is_given_up_at_the_deadline(streaming: bool, fault: object) -> None:
    """The client would wait 300 s between chunks; the deadline is 2 s away."""
    with ScriptedOpenAIServer([fault, Reply("too late")]) as server:
        model = chat_model(server, timeout_s=300, max_retries=3, streaming=streaming)
        started = time.monotonic()
        with within(time.time() + 2), pytest.raises(ModelCallFailed) as caught:
            ask(model, GO)
        elapsed = time.monotonic() - started
        assert len(server.requests) == 1
    assert 1.9 <= elapsed < 2.5
    assert caught.value.kind == OUT_OF_BUDGET
    assert "cut at the deadline" in str(caught.value)


def test_a_stall_shorter_than_the_budget_is_retried() -> None:
    with ScriptedOpenAIServer([Stall(), Reply("ok")]) as server:
        with within(time.time() + 20):
            reply = ask(chat_model(server, timeout_s=1, max_retries=1), GO)
        assert len(server.requests) == 2
    assert reply.message.content == "ok"


def test_no_call_is_started_without_time_left() -> None:
    with ScriptedOpenAIServer([Reply("ok")]) as server:
        with within(time.time() + 0.5), pytest.raises(ModelCallFailed) as caught:
            ask(chat_model(server), GO)
        assert server.requests == []
    assert caught.value.kind == OUT_OF_BUDGET


def test_any_chat_model_is_held_to_the_deadline() -> None:
    """Not only ChatOpenAI: a model that blocks is abandoned at the deadline."""

    class Slow(GenericFakeChatModel):
        def _generate(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            time.sleep(5)
            return super()._generate(*args, **kwargs)

    model = Slow(messages=iter([AIMessage("late")]))
    started = time.monotonic()
    with within(time.time() + 2), pytest.raises(ModelCallFailed) as caught:
        ask(model, GO)
    assert 1.9 <= time.monotonic() - started < 2.5 and caught.value.kind == OUT_OF_BUDGET


def test_bounded_runnable_applies_the_deadline_in_force() -> None:
    """The critic calls `invoke` itself; `bounded` routes that through `ask`."""
    with ScriptedOpenAIServer([Hang(), Reply("advice")]) as server:
        critic = bounded(chat_model(server, timeout_s=300, max_retries=0))
        started = time.monotonic()
        with within(time.time() + 2), pytest.raises(ModelCallFailed):
            critic.invoke(GO)
        assert 1.9 <= time.monotonic() - started < 2.5
        assert len(server.requests) == 1
        assert critic.invoke(GO).content == "advice"


def test_a_huge_error_body_is_cut_to_its_start_and_end() -> None:
    body = "start " + "x" * 2_000_000 + " end"
    with (ScriptedOpenAIServer([HttpError(500, body)]) as server,
          pytest.raises(ModelCallFailed) as caught):
        ask(chat_model(server, max_retries=0), GO)
    text = str(caught.value)
    assert len(text) < 5000 and "characters cut" in text
    assert "start x" in text and "x end" in text


def test_a_stream_of_keep_alives_with_no_chunk_is_given_up_after_the_models_timeout() -> None:
    """Keep-alive comments are bytes, which the client's read timeout counts as life; no chunk
    comes, so the try is given up after the model's timeout and the next one answers."""
    stalled = Stall(chunks=2, keep_alive_s=0.2, max_s=60)
    with ScriptedOpenAIServer([stalled, Reply("ok")]) as server:
        started = time.monotonic()
        with within(time.time() + 30):
            reply = ask(chat_model(server, max_retries=1, timeout_s=1.5), GO)
        assert reply.message.content == "ok"
        assert time.monotonic() - started < 8, "not held until the deadline"
        assert len(server.requests) == 2


def test_the_request_after_an_empty_stream_is_watched_from_its_own_start() -> None:
    """An endpoint that does not stream: its answer to the streamed request is lost and asked
    for again as one body. The watch on a stream's silence (1 s here) starts again for that
    request, so two answers of 0.7 s each are not taken for a stall."""
    script = [Unstreamed(Reply("lost", delay_s=0.7)), Unstreamed(Reply("whole", delay_s=0.7))]
    with ScriptedOpenAIServer(script) as server, within(time.time() + 30):
        reply = ask(chat_model(server, timeout_s=1.0, max_retries=0, streaming=True), GO)
        assert len(server.requests) == 2
    assert reply.message.content == "whole"
