"""Whether an endpoint takes tool calls: told by its answer, not guessed from the model's name.

Servers that cannot call tools say so with HTTP 400 when a request carries them: vLLM started
without a tool parser ("auto" tool choice requires --enable-auto-tool-choice and
--tool-call-parser to be set), others with "tools are not supported", "does not support
tools", "function calling is not enabled" and the like. Such a refusal moves the run to the
closed loop (graphs/context.py); any other error is an ordinary failed call.
"""

from __future__ import annotations

import re

__all__ = ["refuses_tools"]

BAD_REQUEST = re.compile(r"\b400\b|bad request", re.I)
ABOUT_TOOLS = re.compile(
    r"tool[ _-]?(?:choice|call|parser|use)|\btools?\b.{0,40}\b(?:not|no|un)\w*\s*(?:be\s+)?"
    r"(?:supported|enabled|allowed|available)|(?:support|allow|enable)\w*\s+(?:for\s+)?"
    r"(?:tools?|function[ _-]?calling)|function[ _-]?call|['\"`]tools(?:\[\d+\])?['\"`]|"
    r"invalid\s+tools?\b", re.I | re.S)


def refuses_tools(error: str) -> bool:
    """Whether a failed call's message is a bad-request answer about the request's tools."""
    return bool(BAD_REQUEST.search(error) and ABOUT_TOOLS.search(error))
