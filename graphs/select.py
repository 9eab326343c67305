"""Select: re-time the top three passing candidates together and keep the fastest.

Verification timed each candidate alone, at different moments; the finalists are re-timed
interleaved in one sandbox task (tools/retime.py) so they are compared under the same conditions.
The re-timing checks their outputs too, within the tolerance each was verified with: a finalist
whose output is wrong there is listed under the re-timing's `failed` with the reason and is never
chosen (the best passing candidate that did not fail is). Without a GPU nothing is timed: the
best candidate by its verdict is kept (the correct one), and the report says so.
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import Command

from kernel_agent.graphs.context import Context, context_of
from kernel_agent.graphs.events import emit
from kernel_agent.graphs.ranking import passing
from kernel_agent.graphs.state import Candidate, State
from kernel_agent.sandbox import Limits
from kernel_agent.tools.wall_limit import DEFAULT_POLICY

RETIME_TASK = "kernel_agent.tools.retime:run"
FINALISTS = 3


def select(state: State, runtime: Runtime[Context]) -> Command[Literal["tune"]]:
    context = context_of(runtime)
    # a resubmission is its earlier candidate's code again: re-timing it twice compares nothing
    ranked = passing(c for c in state.get("candidates", []) if not c.get("same_as"))
    finalists = ranked[:FINALISTS]
    if len(finalists) < 2:
        retime = {"measured": False, "reason": "no passing candidate" if not finalists else
                  "only one passing candidate: nothing to compare"}
    else:
        retime = _retime(state["problem"], finalists, context)
    chosen = _fastest(ranked, finalists, retime)
    emit("retimed", measured=retime["measured"], reason=retime.get("reason"),
         results=retime.get("results"), failed=retime.get("failed"),
         chosen=chosen["id"] if chosen else None)
    return Command(update={"chosen": chosen, "retime": retime}, goto="tune")


def _retime(problem: dict[str, str], finalists: list[Candidate],
            context: Context) -> dict[str, Any]:
    payload = {"problem": problem,
               "candidates": [{"id": c["id"], "text": c["code"], "path": c["path"],
                               "tolerance": c["verdict"].get("tolerance")} for c in finalists]}
    limits = context.limits() or Limits(wall_s=DEFAULT_POLICY.ceiling_s)  # several candidates
    result = context.sandbox_in_use().run(RETIME_TASK, payload, limits)
    if result.failure is not None or result.value is None:
        message = result.failure.message if result.failure else "no result"
        return {"measured": False, "reason": f"re-timing failed: {message}"}
    return result.value


def _fastest(ranked: list[Candidate], finalists: list[Candidate],
             retime: dict[str, Any]) -> Candidate | None:
    """The fastest finalist by the re-timing, else the first by rank (the best verdict) that
    was not wrong while re-timed."""
    failed = retime.get("failed") or {}
    results = retime.get("results", {}) if retime.get("measured") else {}
    timed = [c for c in finalists if c["id"] in results and c["id"] not in failed]
    if timed:
        return min(timed, key=lambda c: results[c["id"]]["median_ms"])
    return next((c for c in ranked if c["id"] not in failed), None)
