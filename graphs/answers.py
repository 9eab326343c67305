"""What a branch's generate step produced; agent/candidate_code.py takes the code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable

from kernel_agent.agent.candidate_code import usable_code
from kernel_agent.graphs.modelcall import ModelCallFailed, Reply, ask

__all__ = ["Attempt", "usable_code"]


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

