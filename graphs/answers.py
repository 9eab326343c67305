"""What a branch's generate step produced, and how code is taken from a model's answer."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable

from kernel_agent.agent.extract import extract_code
from kernel_agent.agent.reasoning import split_reasoning
from kernel_agent.graphs.modelcall import ModelCallFailed, Reply, ask


@dataclass
class Attempt:
    """The code (None when there is none), how it was found or why it is missing, and cost."""

    code: str | None = None
    note: str = ""
    tokens: int = 0
    seconds: float = 0.0
    failure_kind: str = ""  # model_error, no_code, out_of_budget

    def ask(self, model: BaseChatModel | Runnable,
            messages: Sequence[BaseMessage]) -> Reply | None:
        """One model call, its time and tokens counted here; None, failure noted, if it failed."""
        try:
            reply = ask(model, messages)
        except ModelCallFailed as exc:
            self.seconds += exc.seconds
            self.note, self.failure_kind = str(exc), "model_error"
            return None
        self.tokens += reply.tokens
        self.seconds += reply.seconds
        return reply


def usable_code(message: AIMessage) -> tuple[str | None, str]:
    """The complete file in a model's answer, or None and why not."""
    reasoned = split_reasoning(message)
    if not reasoned.answer:
        return None, ("the answer stopped while still reasoning (token limit)"
                      if reasoned.truncated else "the answer was empty")
    extracted = extract_code(reasoned.answer)
    if extracted.code is None or extracted.truncated:
        return None, extracted.note
    return extracted.code, extracted.note
