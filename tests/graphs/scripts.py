"""Scripted model behaviour for the graph tests: which request is which, and R1-style replies.

The graph sends three kinds of requests: the plan (asks for a JSON list of ideas), the critic
(its own system prompt) and generate (the kernel prompt, whose round shows in "Your previous
attempt (round N)"). `Router` answers each kind; generate answers come from a callable of
(round, branch idea, request), so parallel branches get consistent answers whatever the order.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kernel_agent.agent.prompts import (
    CRITIC_SYSTEM,
    DRAFT_CURRENT,
    DRAFT_FIX_PROMPT,
    DRAFT_PROMPT,
    PLAN_PROMPT,
)
from kernel_agent.graphs.intake import REFERENCE_CHECK_PATH
from kernel_agent.sandbox import Limits, Sandbox, TaskResult
from kernel_agent.tools.check import VERIFY_TASK, verify_sources
from tests.openai_server import (
    Cut,
    Garbage,
    Hang,
    HttpError,
    Reply,
    Scripted,
    Stall,
    message_text,
)

DATA = Path(__file__).resolve().parent.parent / "data"
CORRECT = (DATA / "scale_add_correct.py").read_text()
OFF_BY_ONE = (DATA / "scale_add_off_by_one.py").read_text()
BROKEN_LINE = "def scale_add(x, b) torch.Tensor:"
BROKEN = CORRECT.replace(
    "def scale_add(x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:", BROKEN_LINE)
assert BROKEN != CORRECT
PROBLEM = DATA / "scale_add_problem.py"

PLAN_MARK = PLAN_PROMPT.split("{count}")[-1].strip()[:40]
CRITIC_MARK = CRITIC_SYSTEM[:40]
IDEA = re.compile(r"Optimisation idea for this (?:attempt|branch): (.*)")
PREVIOUS = re.compile(r"Your previous attempt \(round (\d+)\)")


def kind(request: dict[str, Any]) -> str:
    text = message_text(request)
    if CRITIC_MARK in text:
        return "critic"
    if PLAN_MARK in text:
        return "plan"
    return "generate"


def round_of(request: dict[str, Any]) -> int:
    found = PREVIOUS.search(message_text(request))
    return int(found.group(1)) + 1 if found else 1


def idea_of(request: dict[str, Any]) -> str:
    found = IDEA.search(message_text(request))
    assert found, "a generate request names its branch's idea"
    return found.group(1).strip()


def r1(code: str, thought: str = "Let me think about the mask and the grid.") -> Reply:
    """R1 served raw: the opening <think> was in the prompt, so only the closing tag shows."""
    return Reply(content=f"{thought}\n</think>\n\nHere is the kernel:\n\n```python\n{code}```\n"
                         "It masks the tail block.")


def distinct(code: str, label: str) -> str:
    """`code` as a file of its own, for scripts whose branches or rounds would otherwise send the
    same file (a search verifies a file once and reuses the verdict for resubmissions)."""
    return f"{code}\nATTEMPT = {label!r}\n"


# Every way a call can fail, or an answer hold no code, that a real endpoint has shown.
FAULTS: dict[str, Scripted] = {
    "http_500": HttpError(500, "upstream overloaded"),
    "http_429": HttpError(429, "rate limited", retry_after=1),
    "html_body": Garbage(),
    "bad_gateway": Garbage(status=502),
    "cut_stream": Cut(r1(CORRECT), chunks=40),  # the kernel broken off part-way
    "stall": Stall(),
    "hang": Hang(max_s=60),
    "empty": Reply(content=""),
    "think_only": Reply(content="<think>Tile the loop and mask the tail block.</think>"),
    "prose": Reply(content="<think>Hmm.</think>I would use a larger block and vector loads."),
}
NO_CODE_FAULTS = ("empty", "think_only", "prose")
# A 200 body that is no event stream answers a streamed request with no chunks: the client asks
# again for one body within the same call, so the fault costs a request, not an attempt.
ASKED_AGAIN_FAULTS = ("html_body",)


class FaultsFirst:
    """A `Router` kernel script: the first generate requests get `faults`, in order, the rest
    `then` (any round, any branch; a failed call's retry repeats its prompt, so requests are
    counted, not rounds)."""

    def __init__(self, faults: list[Scripted], then: Scripted) -> None:
        self.faults, self.then, self.asked = list(faults), then, 0

    def __call__(self, round_: int, idea: str, request: dict[str, Any]) -> Scripted:
        self.asked += 1
        return self.faults.pop(0) if self.faults else self.then


def ideas_reply(ideas: list[str]) -> Reply:
    return Reply(content=f"<think>Different strategies.</think>\n{json.dumps(ideas)}")


class Router:
    """A ScriptedOpenAIServer script: plan and critic answered here, generate by `kernel`."""

    def __init__(self, kernel: Callable[[int, str, dict[str, Any]], Scripted],
                 ideas: list[str], advice: str = "Fix exactly what the verifier reported.",
                 delay_s: float = 0.0) -> None:
        self.kernel, self.ideas, self.advice, self.delay_s = kernel, ideas, advice, delay_s

    def __call__(self, request: dict[str, Any]) -> Scripted:
        what = kind(request)
        if what == "plan":
            return _delayed(ideas_reply(self.ideas), self.delay_s)
        if what == "critic":
            return _delayed(Reply(content=f"<think>What went wrong?</think>\n{self.advice}"),
                            self.delay_s)
        reply = self.kernel(round_of(request), idea_of(request), request)
        return _delayed(reply, self.delay_s) if isinstance(reply, Reply) else reply


def _delayed(reply: Reply, delay_s: float) -> Reply:
    if not delay_s:
        return reply
    return Reply(content=reply.content, reasoning_content=reply.reasoning_content,
                 tool_calls=reply.tool_calls, delay_s=delay_s)


def warm(sandbox: Sandbox) -> None:
    """Start the sandbox's workers (they import torch) by verifying one kernel."""
    problem = {"text": PROBLEM.read_text(), "path": str(PROBLEM)}
    assert verify_sources(problem, {"text": CORRECT, "path": "warm.py"},
                          sandbox=sandbox).passed


def requests_of(requests: list[dict[str, Any]], what: str) -> list[dict[str, Any]]:
    return [r for r in requests if kind(r) == what]


class CountingSandbox:
    """A real sandbox that appends one line per finished candidate verification to `log`."""

    name = "counting"

    def __init__(self, inner: Sandbox, log: str | Path) -> None:
        self.inner, self.log = inner, Path(log)

    def run(self, task: str, payload: dict[str, Any], limits: Limits | None = None
            ) -> TaskResult:
        result = self.inner.run(task, payload, limits)
        candidate = payload.get("candidate") or {}
        if task == VERIFY_TASK and candidate.get("path") != REFERENCE_CHECK_PATH:
            digest = hashlib.sha256(candidate["text"].encode()).hexdigest()[:10]
            with open(self.log, "a") as f:
                f.write(f"{candidate['path']} {digest}\n")
        return result

    def close(self) -> None:
        self.inner.close()

    def verified(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


DRAFT_MARK = DRAFT_PROMPT[:60]
DRAFT_FIX_MARK = DRAFT_FIX_PROMPT.splitlines()[0]
REVISION_MARK = DRAFT_CURRENT.strip().split("{status}")[0]


def is_draft(request: dict[str, Any]) -> bool:
    """A request to draft (or repair) a reference problem, as graphs/draft.py sends it."""
    return DRAFT_MARK in message_text(request)


def with_drafts(router: Callable[[dict[str, Any]], Scripted],
                drafter: Callable[[dict[str, Any]], Scripted]
                ) -> Callable[[dict[str, Any]], Scripted]:
    """A script that answers drafting requests with `drafter` and all others with `router`."""

    def script(request: dict[str, Any]) -> Scripted:
        return drafter(request) if is_draft(request) else router(request)

    return script
