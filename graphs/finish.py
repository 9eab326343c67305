"""Finish: write the artifacts, answer in the conversation, and tell the streamer it is over."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage
from langgraph.runtime import Runtime

from kernel_agent.graphs.context import Context, context_of
from kernel_agent.graphs.events import emit
from kernel_agent.graphs.report import render
from kernel_agent.graphs.rundir import BEST_KERNEL, REPORT
from kernel_agent.graphs.searches import artifacts_of
from kernel_agent.graphs.state import State


def finish(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    context = context_of(runtime)
    run_dir = context.run_directory()
    chosen = state.get("chosen")
    if run_dir is not None:
        folder = artifacts_of(state, run_dir)
        if chosen is not None:
            folder.write(BEST_KERNEL, chosen["code"])
        folder.write(REPORT, render(dict(state)))
    emit("finished", stop_reason=state.get("stop_reason"), error=state.get("error"),
         chosen=chosen["id"] if chosen else None,
         run_dir=str(run_dir.path) if run_dir else None)
    return {"messages": [AIMessage(_answer(state))]}


def _answer(state: State) -> str:
    chosen = state.get("chosen")
    stop = state.get("stop_reason") or "stopped"
    if state.get("error"):
        head = f"The search stopped with an error: {state['error']}"
    elif chosen is None:
        head = f"No candidate passed verification ({stop})."
    else:
        speed = f", {chosen['speedup']:.2f}x over eager PyTorch" if chosen["speedup"] else ""
        head = f"Best kernel: {chosen['id']} ({chosen['status']}{speed}); {stop}."
    if chosen is None:
        return head
    return f"{head}\n\n```python\n{chosen['code'].rstrip()}\n```"
