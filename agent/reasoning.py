"""Separate a reasoning model's thinking from its answer.

Providers deliver the thinking in different places: DeepSeek's API (and vLLM/SGLang with a
reasoning parser) in a separate `reasoning_content` field; R1 served raw in the content between
`<think>` and `</think>`. R1's chat template puts the opening tag in the prompt, so the content
often starts mid-thought with only the closing tag. An answer cut off by the token limit may end
inside the thinking: then there is no answer at all, and the caller must know it was truncated
rather than treat the thinking as code. Some replies close the thinking more than once (a second
`</think>` after more thought): the answer is what follows the last one, and no tag stays in it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage

__all__ = ["Reasoned", "split_reasoning"]

OPEN, CLOSE = "<think>", "</think>"
_TAG = re.compile(re.escape(OPEN) + "|" + re.escape(CLOSE))
_REASONING_KEYS = ("reasoning_content", "reasoning")
_REASONING_BLOCKS = ("reasoning", "thinking", "reasoning_content")


@dataclass(frozen=True)
class Reasoned:
    """The thinking, the answer, whether the reply was cut off, and how: `length_limit` when the
    endpoint said it stopped at the token limit, `in_reasoning` when the text ends inside an
    unclosed `<think>`."""

    reasoning: str
    answer: str
    truncated: bool
    length_limit: bool = False
    in_reasoning: bool = False


def split_reasoning(message: BaseMessage | str) -> Reasoned:
    """Split a model answer (a message or its text) into reasoning and answer."""
    if isinstance(message, str):
        text, separate, finish = message, [], None
    else:
        text, separate = _content_parts(message.content)
        separate += _reasoning_fields(message.additional_kwargs, message.response_metadata)
        finish = message.response_metadata.get("finish_reason")
    thought, answer, unclosed = _split_tags(text)
    reasoning = "\n\n".join(part for part in [*separate, thought] if part)
    return Reasoned(reasoning=reasoning, answer=answer, truncated=unclosed or finish == "length",
                    length_limit=finish == "length", in_reasoning=unclosed)


def _content_parts(content: str | list[Any]) -> tuple[str, list[str]]:
    """Text of the content and any reasoning blocks in it (list-style content)."""
    if isinstance(content, str):
        return content, []
    texts: list[str] = []
    thoughts: list[str] = []
    for block in content:
        if isinstance(block, str):
            texts.append(block)
        elif isinstance(block, Mapping) and block.get("type") in _REASONING_BLOCKS:
            thoughts.append(str(block.get("reasoning") or block.get("thinking") or ""))
        elif isinstance(block, Mapping) and block.get("type") == "text":
            texts.append(str(block.get("text", "")))
    return "".join(texts), [t.strip() for t in thoughts if t.strip()]


def _reasoning_fields(*sources: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    for source in sources:
        for key in _REASONING_KEYS:
            value = source.get(key)
            if isinstance(value, str) and value.strip() and value.strip() not in found:
                found.append(value.strip())
    return found


def _split_tags(text: str) -> tuple[str, str, bool]:
    """(thinking, answer, ended inside an unclosed <think>) from tagged content: the answer is
    the text after the last `</think>` (R1's template puts the first `<think>` in the prompt),
    less a `<think>` opened after it and never closed."""
    thoughts: list[str] = []
    last = text.rfind(CLOSE)
    if last != -1:
        thoughts += _TAG.split(text[:last])
        text = text[last + len(CLOSE):]
    unclosed = OPEN in text  # opened and never closed: the output stopped while thinking
    if unclosed:
        text, _, tail = text.partition(OPEN)
        thoughts.append(tail.replace(OPEN, ""))
    return "\n\n".join(t.strip() for t in thoughts if t.strip()), text.strip(), unclosed
