"""What a branch's generate step produced, and how code is taken from a model's answer."""

from __future__ import annotations

from dataclasses import dataclass

from langchain_core.messages import AIMessage

from kernel_agent.agent.extract import extract_code
from kernel_agent.agent.reasoning import split_reasoning


@dataclass
class Attempt:
    """The code (None when there is none), how it was found or why it is missing, and cost."""

    code: str | None = None
    note: str = ""
    tokens: int = 0
    seconds: float = 0.0
    failure_kind: str = ""  # model_error, no_code, out_of_budget


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
