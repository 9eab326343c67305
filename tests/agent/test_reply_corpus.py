"""usable_code on a corpus of reasoning-model reply shapes (replies/*.txt): the exact code taken,
or the exact reason there is none; directly, and through the real client and HTTP server.

A case file has sections, each opened by a line `--- <name>`: `content` (the message content),
optionally `reasoning_content` (the separate reasoning field) and `finish_reason`, then either
`code` (the file expected) or `reason` (the exact note when there is none), and optionally
`note` (the exact note that comes with the code).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage

from kernel_agent.agent.candidate_code import usable_code
from kernel_agent.agent.code_blocks import FENCE
from kernel_agent.agent.extract import defines_class
from kernel_agent.agent.models import make_chat_model, resolve_config
from tests.openai_server import Reply, ScriptedOpenAIServer

REPLIES = Path(__file__).parent / "replies"
PATHS = sorted(REPLIES.glob("*.txt"))
SECTION = re.compile(r"^--- (\w+)$")
NAMES = {"content", "reasoning_content", "finish_reason", "code", "reason", "note"}


@dataclass(frozen=True)
class Case:
    content: str
    reasoning_content: str | None
    finish_reason: str | None
    code: str | None
    reason: str | None
    note: str | None

    def message(self) -> AIMessage:
        extra = {"reasoning_content": self.reasoning_content} if self.reasoning_content else {}
        return AIMessage(content=self.content, additional_kwargs=extra,
                         response_metadata={"finish_reason": self.finish_reason or "stop"})

    def reply(self) -> Reply:
        return Reply(content=self.content, reasoning_content=self.reasoning_content,
                     finish_reason=self.finish_reason)


def load(path: Path) -> Case:
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in path.read_text().splitlines():
        marker = SECTION.match(line)
        if marker and marker.group(1) in NAMES:
            current = sections.setdefault(marker.group(1), [])
        else:
            assert current is not None, f"{path.name}: text before the first section"
            current.append(line)

    def text(name: str) -> str | None:
        lines = sections.get(name)
        return None if lines is None else "\n".join(lines).strip("\n")

    code = text("code")
    assert (code is None) != (text("reason") is None), f"{path.name}: code or reason, not both"
    return Case(content=text("content") or "", reasoning_content=text("reasoning_content"),
                finish_reason=text("finish_reason"), code=None if code is None else code + "\n",
                reason=text("reason"), note=text("note"))


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_reply(path: Path) -> None:
    case = load(path)
    code, note = usable_code(case.message())
    if case.reason is not None:
        assert code is None and note == case.reason
        return
    assert code == case.code, note
    assert not FENCE.match(code.splitlines()[0]) and defines_class(code, "ModelNew")
    if "syntax_error" not in path.stem:  # the model's own error is passed on, for the verifier
        ast.parse(code)
    if case.note is not None:
        assert note == case.note


def test_the_corpus_covers_enough_shapes() -> None:
    cases = [load(p) for p in PATHS]
    assert len(cases) >= 30
    assert sum(c.code is None for c in cases) >= 8 and sum(c.code is not None for c in cases) >= 20
    assert any(c.reasoning_content for c in cases) and any(c.finish_reason for c in cases)


@pytest.mark.parametrize("streaming", [True, False])
def test_replies_read_the_same_through_the_client(streaming: bool) -> None:
    """The message the real client makes of each reply gives the same code and note as the
    message built here: reasoning_content and the finish reason survive the wire. Streamed, every
    case; in one piece, the cases that carry either field."""
    paths = [p for p in PATHS if streaming or _wire_fields(load(p))]
    cases = [load(p) for p in paths]
    with ScriptedOpenAIServer([c.reply() for c in cases]) as server:
        config = resolve_config("local", {"base_url": server.base_url, "model": "r1",
                                          "streaming": streaming}, env={})
        model = make_chat_model(config)
        got = [usable_code(model.invoke("go")) for _ in cases]
    assert got == [usable_code(c.message()) for c in cases]
    by_name = dict(zip((p.stem for p in paths), got, strict=True))
    assert by_name["reasoning_content_and_empty_answer"][0] == load(
        REPLIES / "reasoning_content_and_empty_answer.txt").code
    assert by_name["cut_at_length_limit_in_the_code"] == (None, load(
        REPLIES / "cut_at_length_limit_in_the_code.txt").reason)


def _wire_fields(case: Case) -> bool:
    return bool(case.reasoning_content or case.finish_reason)


def test_a_drafted_reference_is_taken_when_the_reference_class_is_asked_for() -> None:
    """Drafting a reference problem asks for `class Model`: the same rules, the other class."""
    reference = ("import torch\nimport torch.nn as nn\n\n\nclass Model(nn.Module):\n"
                 "    def forward(self, x):\n        return torch.cumsum(x, dim=1)\n\n\n"
                 "def get_inputs():\n    return [torch.randn(16, 256)]\n\n\n"
                 "def get_init_inputs():\n    return []\n")
    reply = AIMessage(content=f"Planning.\n</think>\n\n```\n```python\n{reference}```\n")
    assert usable_code(reply, defines="Model") == (reference,
                                                  "class Model in block 1 of 1 (```python)")
    code, reason = usable_code(reply)
    assert code is None and "(its code only echoes the reference class Model)" in reason
