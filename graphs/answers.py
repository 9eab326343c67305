"""What a branch's generate step produced; agent/candidate_code.py takes the code."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable

from kernel_agent.agent.candidate_code import usable_code
from kernel_agent.graphs.modelcall import ModelCallFailed, Reply, ask

__all__ = ["Attempt", "Fault", "usable_code"]

NO_CODE = "no_code"


@dataclass(frozen=True)
class Fault:
    """One model call that failed, or one answer without usable code, and why."""

    kind: str  # model_error, no_code, out_of_budget
    message: str
    seconds: float = 0.0


@dataclass
class Attempt:
    """The code (None when there is none), how it was found or why it is missing, and cost;
    `faults` lists every failed call and unusable answer of the step, in order."""

    code: str | None = None
    note: str = ""
    tokens: int = 0
    seconds: float = 0.0
    failure_kind: str = ""  # model_error, no_code, out_of_budget
    retry_after: float | None = None  # the wait the endpoint asked for, if it asked
    faults: list[Fault] = field(default_factory=list)

    def ask(self, model: BaseChatModel | Runnable,
            messages: Sequence[BaseMessage]) -> Reply | None:
        """One model call (within the step's deadline, see graphs/modelcall.py), its time and
        tokens counted here; None, failure noted, if it failed."""
        try:
            reply = ask(model, messages)
        except ModelCallFailed as exc:
            self.seconds += exc.seconds
            self.note, self.failure_kind, self.retry_after = str(exc), exc.kind, exc.retry_after
            self.faults.append(Fault(exc.kind, str(exc), exc.seconds))
            return None
        self.tokens += reply.tokens
        self.seconds += reply.seconds
        return reply

    def no_code(self, note: str, seconds: float = 0.0) -> None:
        """An answer held no usable code: noted, and counted as a fault."""
        self.note = note
        self.faults.append(Fault(NO_CODE, note, seconds))
