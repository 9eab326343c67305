"""Intake: turn the caller's input into a checked problem, a request and a budget.

A problem file (or its source text) is parsed on the host, then run once in the sandbox as its
own candidate (`ModelNew = Model`), which proves it loads, builds and runs before any model time
is spent, and starts the sandbox's workers while the model plans. Without a problem, a chat
request (a message or `request`) goes to the draft node (graphs/draft.py), which writes a
reference from the conversation, has the person approve it, and comes back here with it.

A thread may hold several searches. When a finished thread runs again, the finished search is
archived and the search's keys reset (graphs/searches.py); input keys count as new where they
differ from what the latest search started from (`search_inputs`), and a new message with no new
problem is a follow-up: the draft node revises the previous reference from it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

from langchain_core.messages import HumanMessage
from langgraph.runtime import Runtime
from langgraph.types import Command, Overwrite

from kernel_agent.agent.prompts import DEVICE_NOTES, SYSTEM_PROMPT
from kernel_agent.graphs.context import Context, context_of
from kernel_agent.graphs.events import emit
from kernel_agent.graphs.problem_file import backends_of, request_of, structure_error
from kernel_agent.graphs.searches import archive_and_reset
from kernel_agent.graphs.state import ReferenceDraft, State
from kernel_agent.tools import check
from kernel_agent.tools.verdict import Verdict

DEFAULT_MINUTES = 15.0
REFERENCE_CHECK_PATH = check.REFERENCE_PATH
NO_PROBLEM = ("no problem given: pass problem_path (a KernelBench-format file) or problem_text, "
              "or describe the kernel you want in a message")


def intake(state: State, runtime: Runtime[Context]
           ) -> Command[Literal["draft", "recall", "finish"]]:
    context = context_of(runtime)
    ended = state.get("stop_reason") is not None or state.get("round", 0) > 0  # a search ran
    fresh = archive_and_reset(state) if ended else {}
    draft = state.get("reference_draft")
    approved = draft if draft and draft["status"] == "approved" else None
    text_new, path_new = _new_inputs(state)
    if approved is None and not (text_new or path_new) and _asked_anew(state):
        return Command(update=fresh, goto="draft")
    if approved is not None:
        problem = {"text": approved["text"], "path": approved["path"]}
    else:
        found, error = _problem(state, prefer_path=path_new and not text_new)
        if found is None:
            return _refuse(error, fresh)
        problem = found
        if text_new or path_new:
            fresh["starting_point"] = None  # a problem of its own, not a follow-up
    error = structure_error(problem["text"], problem["path"])
    if error:
        return _refuse(error, fresh)
    if approved is not None and approved["validation"]["ok"]:
        gpu = approved["validation"]["gpu"]  # checked in the sandbox when it was drafted
    else:
        reference = run_reference(problem, context)
        if reference.status == "bad_input" or reference.error is not None:
            return _refuse(reference_error(reference), fresh)
        gpu = reference.device.get("type") == "cuda"
    budget = state.get("budget") or {}
    minutes = float(DEFAULT_MINUTES if budget.get("minutes") is None else budget["minutes"])
    request = _request(state, problem, approved, new_problem=text_new or path_new)
    now = time.time()
    update: dict[str, Any] = {
        **fresh, "problem": problem, "request": request, "started_at": now,
        "deadline": budget.get("deadline") or now + 60 * minutes,
        "max_rounds": budget.get("rounds"),
        "max_tokens": budget.get("tokens"), "round": 0, "round_started_at": now,
        "system_prompt": system_prompt(problem["text"], gpu=gpu),
        "search_inputs": {"problem_text": state.get("problem_text"),
                          "problem_path": state.get("problem_path"), "request": request},
        "reference_draft": None, "error": None,
        # drafting the reference is part of this search's cost
        "tokens_used": Overwrite(approved["tokens"] if approved else 0),
    }
    if not state.get("messages"):
        update["messages"] = [HumanMessage(
            f"Write a fast, correct kernel for {problem['path']}." + (f" {request}" if request
                                                                       else ""))]
    emit("run_started", problem=problem["path"], branches=context.branches, minutes=minutes,
         rounds=budget.get("rounds"), tokens=budget.get("tokens"), request=request,
         mode=_mode(context))
    return Command(update=update, goto="recall")


def _mode(context: Context) -> str:
    """How the model works; a run that only recalls from memory asks no model at all."""
    if context.recall_only:
        return "recall_only"
    return "tools" if context.tools_mode() else "closed_loop"


def system_prompt(problem_text: str, *, gpu: bool) -> str:
    """The search's system prompt; without a GPU it offers only what can be verified here
    (Triton under the interpreter), unless the problem allows nothing else."""
    allowed = backends_of(problem_text)
    offered = allowed if gpu else tuple(b for b in allowed if b != "cuda") or allowed
    return SYSTEM_PROMPT.format(backends=", ".join(offered),
                                device_note=DEVICE_NOTES["gpu" if gpu else "cpu"])


def _new_inputs(state: State) -> tuple[bool, bool]:
    """Whether problem_text, problem_path differ from what the latest search started from."""
    seen = state.get("search_inputs") or {}
    text, path = state.get("problem_text"), state.get("problem_path")
    return (bool(text) and text != seen.get("problem_text"),
            bool(path) and path != seen.get("problem_path"))


def _request(state: State, problem: dict[str, str], approved: ReferenceDraft | None, *,
             new_problem: bool) -> str:
    """The request: the approved draft's, a given one (unless it belongs to an earlier search
    of another problem), else the problem file's own."""
    if approved is not None:
        return approved["request"]
    given = state.get("request")
    if given and (given != (state.get("search_inputs") or {}).get("request") or not new_problem):
        return given
    return request_of(problem["text"])


def _asked_anew(state: State) -> bool:
    """A chat turn to answer: the newest message is the person's, or the request is new."""
    messages = state.get("messages") or []
    if messages and isinstance(messages[-1], HumanMessage):
        return True
    request = state.get("request")
    return bool(request) and request != (state.get("search_inputs") or {}).get("request")


def _problem(state: State, *, prefer_path: bool) -> tuple[dict[str, str] | None, str]:
    """The problem from the input keys; a newly given path wins over an earlier source text."""
    text, path = state.get("problem_text"), state.get("problem_path")
    if text and not prefer_path:
        return {"text": text, "path": path or "problem.py"}, ""
    if not path:
        return None, NO_PROBLEM
    try:
        return {"text": Path(path).read_text(), "path": str(path)}, ""
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"problem file {path} cannot be read: {exc}"


def run_reference(problem: dict[str, str], context: Context) -> Verdict:
    """The reference run as its own candidate: proves it loads, builds and runs, and times it
    for the candidates' wall limits (tools/check.py)."""
    return check.run_reference(problem, sandbox=context.sandbox_in_use(),
                               limits=context.limits(), **context.verifier_options)


def reference_error(verdict: Verdict) -> str:
    error = verdict.error
    message = error.message if error else verdict.summary()
    where = f" ({error.file}:{error.line})" if error and error.line else ""
    return f"the reference problem does not run{where}: {message}"


def _refuse(error: str, fresh: dict[str, Any]) -> Command[Literal["finish"]]:
    return Command(update={**fresh, "problem": None, "error": error, "stop_reason": "bad input"},
                   goto="finish")
