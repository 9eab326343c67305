"""Several searches on one thread: archive the finished one, reset what belongs to one search.

A conversation continues on its thread ("now for D=64"), so the state that belongs to a single
search (its candidates, best, rounds, budget clock, stop reason) must start empty for the next
one, or the new search would look finished before it began. The reducer channels are reset with
`Overwrite`; the finished search stays in `searches` (its chosen kernel in full, every candidate
in brief; candidates.jsonl in the run directory keeps them all in full), and its best kernel
becomes the next search's starting point.

Each search of a conversation keeps its files in a folder of its own, `search_<N>/` (the
approved reference, its diff against the previous one, best_kernel.py, report.md), so a
follow-up never overwrites what the search before it found.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langgraph.types import Overwrite

from kernel_agent.graphs.rundir import RunDir
from kernel_agent.graphs.state import State


def search_folder(number: int) -> str:
    """The folder, in the run directory, of a conversation's search `number` (from 1)."""
    return f"search_{number}"


def artifacts_of(state: State, run_dir: RunDir) -> RunDir:
    """Where this search writes best_kernel.py and report.md: its own folder (search_<N>/) when
    its reference was approved into that folder in the conversation, else the run directory."""
    folder = run_dir.path / search_folder(len(state.get("searches", [])) + 1)
    path = (state.get("problem") or {}).get("path")
    return RunDir(folder) if path and Path(path).parent == folder else run_dir


def archive_and_reset(state: State) -> dict[str, Any]:
    """The update that archives the finished search in `state` and empties the search keys."""
    previous = state.get("chosen") or state.get("best")
    problem = state.get("problem")
    entry = {
        "number": len(state.get("searches", [])) + 1, "problem": problem,
        "request": state.get("request") or "", "stop_reason": state.get("stop_reason"),
        "error": state.get("error"), "rounds": state.get("round", 0),
        "tokens_used": state.get("tokens_used", 0), "chosen": state.get("chosen"),
        "candidates": [{key: c[key] for key in ("id", "round", "branch", "status", "speedup",
                                                "headline")}
                       for c in state.get("candidates", [])],
    }
    starting_point = None if previous is None else {
        "id": previous["id"], "code": previous["code"],
        "outcome": f"{previous['status']}: {previous['headline']}",
        "problem_path": (problem or {}).get("path", "")}
    return {
        "searches": [entry], "starting_point": starting_point,
        "candidates": Overwrite([]), "failures": Overwrite([]), "history": Overwrite([]),
        "best": Overwrite(None), "branches": Overwrite({}), "tokens_used": Overwrite(0),
        "chosen": None, "retime": None, "stop_reason": None, "error": None, "round": 0,
    }
