"""One model call, timed and counted, with every failure turned into one exception type.

Transport retries (5xx, timeouts, rate limits) happen inside the client (`ModelConfig.
max_retries`); what reaches the graph has already been retried, so the nodes only record it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from time import perf_counter

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable

from kernel_agent.agent.models import describe_error
from kernel_agent.agent.usage import usage_of


class ModelCallFailed(Exception):
    """The endpoint failed after the client's retries; the message says how."""

    def __init__(self, message: str, seconds: float) -> None:
        super().__init__(message)
        self.seconds = seconds


@dataclass(frozen=True)
class Reply:
    message: AIMessage
    seconds: float
    tokens: int


def ask(model: BaseChatModel | Runnable, messages: Sequence[BaseMessage]) -> Reply:
    """Invoke `model`; any failure of the call becomes ModelCallFailed."""
    started = perf_counter()
    try:
        message = model.invoke(list(messages))
    except Exception as exc:  # openai, httpx and LangChain errors alike: the endpoint failed
        raise ModelCallFailed(describe_error(exc), perf_counter() - started) from exc
    seconds = perf_counter() - started
    if not isinstance(message, AIMessage):
        raise ModelCallFailed(f"the model returned a {type(message).__name__}, not a message",
                              seconds)
    return Reply(message, seconds, usage_of(message).total_tokens)
