"""One model call within the budget: timed, counted, retried, every failure one exception type.

The budget is law (DESIGN.md): no call outlives the deadline of the step that makes it. A step
names its deadline with `within(deadline)`; every `ask` inside it then
- caps the client's timeouts (connect, first byte, silence between stream chunks) by the time
  left, for ChatOpenAI-based models, so the client itself gives up on a hung endpoint in time;
  and gives up a streamed try that brings no chunk for the model's timeout, however many bytes
  come (keep-alive comments, a trickle), which the client's timeouts count as life;
- waits for the whole call no longer than the time left, for any chat model: the call runs in a
  daemon thread, and one still running at the deadline is abandoned (its capped timeouts end
  it; a daemon thread never holds the process at exit);
- retries what may succeed on another try (connection errors, timeouts, HTTP 408, 409, 429 and
  5xx, an answer that is not a chat completion, a stream cut mid-reply) up to the model's
  `retries` (ModelConfig.max_retries), waiting as Retry-After asks (at most MAX_ASKED_S) or
  1, 2, 4 ... s (at most MAX_WAIT_S), and never sleeping past the deadline.
The openai client does not retry on its own (agent/models.py): its backoff knows no deadline.
"""

from __future__ import annotations

import contextvars
import random
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import openai
from langchain_core import exceptions as langchain_exceptions
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.exceptions import ModelError
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable, RunnableBinding, RunnableLambda
from langchain_openai.chat_models.base import BaseChatOpenAI

from kernel_agent.agent.models import StreamStalledError, describe_error
from kernel_agent.agent.usage import usage_of

__all__ = ["ENDPOINT_REFUSED", "MODEL_ERROR", "OUT_OF_BUDGET", "REQUEST_REFUSED",
           "ModelCallFailed", "Reply", "ask", "bounded", "refusal", "time_left", "within"]

MODEL_ERROR, OUT_OF_BUDGET = "model_error", "out_of_budget"
# The endpoint answered, and refused: every call alike (the key, the model's name or the URL is
# wrong), or this request only (too long a prompt, a parameter it does not take).
ENDPOINT_REFUSED, REQUEST_REFUSED = "endpoint_refused", "request_refused"
REFUSING_ENDPOINT = frozenset({401, 403, 404})
REFUSED_REQUEST = frozenset({400, 413, 422})
MIN_CALL_S = 1.0  # with less time left, no call is started
CONNECT_S = 10.0  # the longest wait for a connection, when the model's own timeout is longer
BACKOFF_S, MAX_WAIT_S = 1.0, 30.0  # between tries of one call: doubling, with jitter
MAX_ASKED_S = 120.0  # the longest Retry-After honoured (a call without a deadline included)
DEFAULT_RETRIES = 2  # for chat models that do not say (ours carry ModelConfig.max_retries)
RETRYABLE_STATUS = frozenset({408, 409, 429})  # and every 5xx
MESSAGE_CHARS = 4000  # of a failed call's message: its start and its end
WATCH_S = 0.5  # how often a call's stream is looked at for progress

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("deadline",
                                                                        default=None)


class ModelCallFailed(Exception):
    """The call failed for good (after its retries) or could not be made in the time left.

    `kind` is MODEL_ERROR (the endpoint failed), ENDPOINT_REFUSED or REQUEST_REFUSED (it answered
    with a refusal, see `refusal`) or OUT_OF_BUDGET (the deadline came first);
    `retry_after` is the wait the endpoint asked for last, if it asked."""

    def __init__(self, message: str, seconds: float, kind: str = MODEL_ERROR,
                 retry_after: float | None = None) -> None:
        if len(message) > MESSAGE_CHARS:  # an error page of megabytes, kept in every checkpoint
            half = MESSAGE_CHARS // 2
            message = f"{message[:half]}\n... ({len(message) - 2 * half} characters cut) ...\n" \
                      f"{message[-half:]}"
        super().__init__(message)
        self.seconds, self.kind, self.retry_after = seconds, kind, retry_after


@dataclass(frozen=True)
class Reply:
    message: AIMessage
    seconds: float
    tokens: int


@contextmanager
def within(deadline: float | None) -> Iterator[None]:
    """Every `ask` in this block ends by `deadline` (epoch seconds; None: no deadline)."""
    token = _deadline.set(deadline)
    try:
        yield
    finally:
        _deadline.reset(token)


def time_left(deadline: float | None = None) -> float | None:
    """Seconds to `deadline` (else the block's, see `within`); None when there is none."""
    deadline = _deadline.get() if deadline is None else deadline
    return None if deadline is None else deadline - time.time()


def bounded(model: BaseChatModel | Runnable) -> Runnable:
    """`model` as a runnable whose every call goes through `ask`, for code that calls
    `invoke` itself (the critic): the deadline in force when invoked applies."""
    return RunnableLambda(lambda messages: ask(model, messages).message,
                          name="within_budget")


def ask(model: BaseChatModel | Runnable, messages: Sequence[BaseMessage]) -> Reply:
    """Invoke `model` within the current deadline, retrying what may succeed; any failure
    becomes ModelCallFailed."""
    started = time.perf_counter()
    tries = _retries_of(model) + 1
    retry_after: float | None = None
    for number in range(1, tries + 1):
        left = time_left()
        if left is not None and left < MIN_CALL_S:
            raise ModelCallFailed(
                f"the budget ran out before the model answered ({max(left, 0.0):.1f} s left"
                + (f", after {number - 1} failed tries)" if number > 1 else ")"),
                time.perf_counter() - started, OUT_OF_BUDGET, retry_after)
        try:
            message = _invoke(model, list(messages), left)
        except _CutAtDeadline as cut:
            raise ModelCallFailed(
                f"no complete answer within the {cut.seconds:.1f} s left of the budget "
                "(the call was cut at the deadline)", time.perf_counter() - started,
                OUT_OF_BUDGET, retry_after) from None
        except Exception as exc:  # openai, httpx and LangChain errors alike
            asked = _retry_after(exc)
            retry_after = asked if asked is not None else retry_after
            wait = _wait(number, asked)
            final = _final(exc, number, tries, wait, asked)
            if final is not None:
                raise ModelCallFailed(describe_error(exc) + final, time.perf_counter() - started,
                                      refusal(exc) or MODEL_ERROR, retry_after) from exc
            time.sleep(wait)
            continue
        seconds = time.perf_counter() - started
        if not isinstance(message, AIMessage):
            raise ModelCallFailed(f"the model returned a {type(message).__name__}, not a "
                                  "message", seconds)
        return Reply(message, seconds, usage_of(message).total_tokens)
    raise AssertionError("unreachable: the last try returns or raises")


class _CutAtDeadline(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"cut after {seconds:.1f} s")
        self.seconds = seconds


def _invoke(model: BaseChatModel | Runnable, messages: list[BaseMessage],
            left: float | None) -> Any:
    """One try; with a deadline, the client's timeouts capped and the wait bounded by it."""
    if left is None:
        return model.invoke(messages)
    client = _openai_model(model)
    kwargs: dict[str, Any] = {}
    watched: float | None = None  # the longest silence between streamed chunks
    if client is not None:
        stall = client.request_timeout if isinstance(client.request_timeout, int | float) \
            else left
        kwargs["timeout"] = httpx.Timeout(min(stall, left), connect=min(CONNECT_S, stall, left))
        watched = float(stall) if client.streaming and stall < left else None
    progress = _Progress()
    outcome: dict[str, Any] = {}
    done = threading.Event()
    context = contextvars.copy_context()

    def call() -> None:
        try:
            outcome["message"] = context.run(model.invoke, messages,
                                             {"callbacks": [progress]}, **kwargs)
        except BaseException as exc:  # handed to the waiting thread
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=call, name="model-call", daemon=True).start()
    ends = time.monotonic() + left
    while not done.wait(max(0.0, min(WATCH_S, ends - time.monotonic()))):
        if time.monotonic() >= ends:
            raise _CutAtDeadline(left)
        if watched is not None and time.monotonic() - progress.last > watched:
            # Bytes may still come (keep-alive comments, a trickle), which the client's own
            # timeout counts as life; no chunk is. The try is abandoned like one at the deadline.
            raise StreamStalledError(f"no streamed chunk for {watched:g} s (the model's timeout)")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["message"]


class _Progress(BaseCallbackHandler):
    """When the model's stream last brought a chunk (its call's start, before the first)."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.last = time.monotonic()


def _unbound(model: BaseChatModel | Runnable) -> BaseChatModel | Runnable:
    """The model under its bindings (e.g. `bind_tools`), which carries the settings."""
    while isinstance(model, RunnableBinding):
        model = model.bound
    return model


def _openai_model(model: BaseChatModel | Runnable) -> BaseChatOpenAI | None:
    """The ChatOpenAI under `model` (a bound one, e.g. with tools), if it is one."""
    model = _unbound(model)
    return model if isinstance(model, BaseChatOpenAI) else None


def _retries_of(model: BaseChatModel | Runnable) -> int:
    retries = getattr(_unbound(model), "retries", DEFAULT_RETRIES)
    return retries if isinstance(retries, int) and retries >= 0 else DEFAULT_RETRIES


def _final(exc: BaseException, number: int, tries: int, wait: float,
           asked: float | None = None) -> str | None:
    """None to try again after `wait`; else why not, to add to the error's message. A wait
    asked for beyond MAX_ASKED_S is not waited out within the call: the search's back-off and
    circuit breaker deal with an endpoint that long away."""
    if not _retryable(exc):
        return ""
    if asked is not None and not asked <= MAX_ASKED_S:  # NaN included
        return f"\n(the endpoint asked to wait {asked:.0f} s before another try)"
    if number == tries:
        return f"\n(gave up after {tries} {'try' if tries == 1 else 'tries'})"
    left = time_left()
    if left is not None and left - wait < MIN_CALL_S:
        return (f"\n(no time for another try: waiting {wait:.0f} s as asked would leave "
                f"{max(left - wait, 0):.0f} s of the budget)")
    return None


def refusal(exc: BaseException) -> str | None:
    """ENDPOINT_REFUSED or REQUEST_REFUSED where the endpoint's status (or LangChain's kind of
    error for it) says so."""
    if isinstance(exc, _kinds("ModelAuthenticationError", "ModelPermissionDeniedError",
                              "ModelNotFoundError")):
        return ENDPOINT_REFUSED
    if isinstance(exc, _kinds("ContextOverflowError", "ModelInvalidRequestError")):
        return REQUEST_REFUSED
    status = getattr(exc, "status_code", None)
    if not isinstance(exc, openai.APIStatusError) or not isinstance(status, int):
        return None
    if status in REFUSING_ENDPOINT:
        return ENDPOINT_REFUSED
    return REQUEST_REFUSED if status in REFUSED_REQUEST else None


def _kinds(*names: str) -> tuple[type, ...]:
    """LangChain's error classes of these names, those this version has."""
    return tuple(kind for name in names if isinstance(kind := getattr(
        langchain_exceptions, name, None), type))


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in RETRYABLE_STATUS or exc.status_code >= 500
    if isinstance(exc, ModelError):
        return exc.is_retryable
    return isinstance(exc, openai.APIConnectionError | httpx.TransportError | TimeoutError)


def _retry_after(exc: BaseException) -> float | None:
    """The wait the endpoint asked for (Retry-After in seconds or as a date, retry-after-ms)."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    try:
        if (ms := headers.get("retry-after-ms")) is not None:
            return max(0.0, float(ms) / 1000)
        value = headers.get("retry-after")
        if value is None:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _wait(number: int, asked: float | None) -> float:
    """The wait before try `number + 1`: what the endpoint asked, else doubling with jitter."""
    if asked is not None:
        return min(asked, MAX_ASKED_S)
    return min(MAX_WAIT_S, BACKOFF_S * 2 ** (number - 1)) * random.uniform(0.75, 1.0)
