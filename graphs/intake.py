"""Intake: turn the caller's input into a checked problem, a request and a budget.

A problem file (or its source text) is parsed on the host, then run once in the sandbox as its
own candidate (`ModelNew = Model`), which proves it loads, builds and runs before any model time
is spent, and starts the sandbox's workers while the model plans. A chat request without a
problem file stops here with a clear error: drafting a reference from prose belongs between
intake and plan, as a node of its own.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Literal

from langchain_core.messages import HumanMessage
from langgraph.runtime import Runtime
from langgraph.types import Command

from kernel_agent.agent.prompts import DEVICE_NOTES, SYSTEM_PROMPT
from kernel_agent.graphs.context import Context, context_of
from kernel_agent.graphs.events import emit
from kernel_agent.graphs.problem_file import backends_of, request_of, structure_error
from kernel_agent.graphs.state import State
from kernel_agent.tools.check import verify_sources
from kernel_agent.tools.verdict import Verdict

DEFAULT_MINUTES = 15.0
REFERENCE_CHECK_PATH = "reference_check.py"


def intake(state: State, runtime: Runtime[Context]) -> Command[Literal["plan", "finish"]]:
    context = context_of(runtime)
    problem, error = _problem(state)
    if problem is None:
        return _refuse(error)
    error = structure_error(problem["text"], problem["path"])
    if error:
        return _refuse(error)
    reference = _run_reference(problem, context)
    if reference.status == "bad_input" or reference.error is not None:
        return _refuse(_reference_error(reference))
    budget = state.get("budget") or {}
    minutes = float(DEFAULT_MINUTES if budget.get("minutes") is None else budget["minutes"])
    request = state.get("request") or request_of(problem["text"])
    now = time.time()
    update: dict[str, Any] = {
        "problem": problem, "request": request, "started_at": now,
        "deadline": now + 60 * minutes, "max_rounds": budget.get("rounds"),
        "max_tokens": budget.get("tokens"), "round": 0, "round_started_at": now,
        "system_prompt": system_prompt(problem["text"], gpu=reference.device.get("type") == "cuda"),
    }
    if not state.get("messages"):
        update["messages"] = [HumanMessage(
            f"Write a fast, correct kernel for {problem['path']}." + (f" {request}" if request
                                                                       else ""))]
    emit("run_started", problem=problem["path"], branches=context.branches, minutes=minutes,
         rounds=budget.get("rounds"), tokens=budget.get("tokens"), request=request,
         mode="tools" if context.tools_mode() else "closed_loop")
    return Command(update=update, goto="plan")


def system_prompt(problem_text: str, *, gpu: bool) -> str:
    return SYSTEM_PROMPT.format(backends=", ".join(backends_of(problem_text)),
                                device_note=DEVICE_NOTES["gpu" if gpu else "cpu"])


def _problem(state: State) -> tuple[dict[str, str] | None, str]:
    if state.get("problem_text"):
        return {"text": state["problem_text"],
                "path": state.get("problem_path") or "problem.py"}, ""
    if not state.get("problem_path"):
        return None, ("no problem given: pass problem_path (a KernelBench-format file) or "
                      "problem_text; drafting a reference problem from a chat request is not "
                      "supported yet")
    path = Path(state["problem_path"])
    try:
        return {"text": path.read_text(), "path": str(path)}, ""
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"problem file {path} cannot be read: {exc}"


def _run_reference(problem: dict[str, str], context: Context) -> Verdict:
    """The reference run as its own candidate: proves it loads, builds and runs."""
    as_candidate = {"text": problem["text"] + "\n\nModelNew = Model\n",
                    "path": REFERENCE_CHECK_PATH}
    return verify_sources(problem, as_candidate, sandbox=context.sandbox_in_use(),
                          limits=context.limits(),
                          **{**context.verifier_options, "timing": False})


def _reference_error(verdict: Verdict) -> str:
    error = verdict.error
    message = error.message if error else verdict.summary()
    where = f" ({error.file}:{error.line})" if error and error.line else ""
    return f"the reference problem does not run{where}: {message}"


def _refuse(error: str) -> Command[Literal["finish"]]:
    return Command(update={"error": error, "stop_reason": "bad input"}, goto="finish")
