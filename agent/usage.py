"""Token usage per run: prompt, completion and reasoning tokens, requests, and their cost.

A `UsageTracker` is a LangChain callback handler: pass it in a call's `callbacks` (or to
`make_chat_model`) and it adds up the `usage_metadata` of every answer. Branches of one run call
the model from several threads at once, so all updates take a lock.
"""

from __future__ import annotations

import threading
from dataclasses import astuple, dataclass
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage
from langchain_core.outputs import LLMResult

__all__ = ["Prices", "Usage", "UsageTracker", "usage_of"]


@dataclass(frozen=True)
class Prices:
    """Prices in currency units per million tokens; reasoning tokens are billed as output."""

    input_per_mtok: float
    output_per_mtok: float


@dataclass(frozen=True)
class Usage:
    """Totals over model calls. `unreported` counts answers that carried no usage numbers, so
    when it is non-zero the token totals are a lower bound."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0  # included in completion_tokens, as providers report it
    requests: int = 0
    failed_requests: int = 0
    unreported: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def cost(self, prices: Prices) -> float:
        return (self.prompt_tokens * prices.input_per_mtok
                + self.completion_tokens * prices.output_per_mtok) / 1e6

    def __add__(self, other: Usage) -> Usage:
        return Usage(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


def usage_of(message: AIMessage) -> Usage:
    """The usage one answer reports (one request)."""
    meta = message.usage_metadata
    if not meta:
        return Usage(requests=1, unreported=1)
    details = meta.get("output_token_details") or {}
    return Usage(prompt_tokens=meta.get("input_tokens", 0),
                 completion_tokens=meta.get("output_tokens", 0),
                 reasoning_tokens=details.get("reasoning", 0) or 0, requests=1)


class UsageTracker(BaseCallbackHandler):
    """Adds up the usage of every model call it sees; safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._total = Usage()

    @property
    def total(self) -> Usage:
        with self._lock:
            return self._total

    def add(self, usage: Usage) -> None:
        with self._lock:
            self._total = self._total + usage

    def add_message(self, message: AIMessage) -> None:
        """Count an answer from a model that was called without this tracker as a callback."""
        self.add(usage_of(message))

    def on_llm_end(self, response: LLMResult, **kwargs: Any) -> None:
        for generations in response.generations:
            for generation in generations[:1]:  # one request, however many choices
                message = getattr(generation, "message", None)
                self.add(usage_of(message) if isinstance(message, AIMessage)
                         else Usage(requests=1, unreported=1))

    def on_llm_error(self, error: BaseException, **kwargs: Any) -> None:
        self.add(Usage(failed_requests=1))
