"""The candidate file in a model's reply, or the reason there is none.

One place decides what code a reply holds, so every node that reads a model's code (generate,
the tool loop, draft) takes the same code and gives the model the same reason when there is none.
"""

from __future__ import annotations

from langchain_core.messages import AIMessage

from kernel_agent.agent.extract import extract_code
from kernel_agent.agent.reasoning import split_reasoning

__all__ = ["usable_code"]


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
