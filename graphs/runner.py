"""Run a search to the end in a run directory, streaming progress events to a callback.

This is what the CLI and the tests call. The checkpointer lives in the run directory
(`checkpoints.sqlite`), and `run.json` remembers the thread id, so `resume=True` continues a run
that was killed at any point: steps that finished are not run again, and a candidate verified
just before the kill is found in candidates.jsonl rather than verified twice. The context is not
checkpointed, so a resume passes the model and settings again.

`more_minutes` on a resume adds time: the run first finishes what it had left, then, unless it
had stopped for a reason more time does not change (target met, rounds or tokens used), searches
on from its last round with a new deadline that many minutes away. A run its deadline ended, or
the circuit breaker (graphs/breaker.py), continues where it stopped, every verdict kept.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command

from kernel_agent.graphs.assess import HISTORY_SENT, next_round, stop_reason
from kernel_agent.graphs.breaker import HEALTHY, Breaker
from kernel_agent.graphs.context import Context, Mode, ModelSpec
from kernel_agent.graphs.graph import MAX_CONCURRENCY, build_graph
from kernel_agent.graphs.rundir import BEST_KERNEL, REPORT, RunDir
from kernel_agent.sandbox import Sandbox, get_sandbox
from kernel_agent.tools.memory import KernelMemory

Event = dict[str, Any]


class RunDirInUse(Exception):
    """The run directory holds another search; resume it or choose another directory."""


@dataclass
class SearchResult:
    """How a search ended, and where its artifacts are."""

    thread_id: str
    run_dir: Path
    status: str  # pass, fail (nothing passed), error
    stop_reason: str | None
    error: str | None
    chosen: dict[str, Any] | None
    candidates: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    rounds: int = 0
    tokens_used: int = 0
    endpoint_down: bool = False  # the circuit breaker ended the search
    attempts: list[dict[str, Any]] = field(default_factory=list)  # failed ones: attempts.jsonl

    @property
    def best_kernel(self) -> Path | None:
        path = self.run_dir / BEST_KERNEL
        return path if self.chosen is not None and path.exists() else None

    @property
    def report(self) -> Path:
        return self.run_dir / REPORT


def run_search(problem_path: str | Path, run_dir: str | Path, *, model: ModelSpec = None,
               critic_model: ModelSpec = None, mode: Mode = "auto", branches: int = 4,
               minutes: float = 15.0, rounds: int | None = None, tokens: int | None = None,
               target_speedup: float | None = None, request: str | None = None,
               problem_text: str | None = None, sandbox: Sandbox | None = None,
               thread_id: str | None = None, resume: bool = False,
               on_event: Callable[[Event], None] | None = None,
               verifier_options: dict[str, Any] | None = None,
               verify_timeout_s: float | None = None,
               answer_attempts: int = 2, tool_steps: int = 12,
               memory: KernelMemory | None = None, use_memory: bool = True,
               recall_only: bool = False, tune: bool = True, more_minutes: float | None = None,
               breaker: Breaker | None = None, deadline: float | None = None) -> SearchResult:
    """Search for a fast, correct kernel for `problem_path`; see the module docstring.

    `problem_text`, when given, is searched instead of the file's text (under the file's path),
    e.g. the problem with its allowed backends narrowed. `memory` is the kernel memory to use
    (default: the user's, unless `use_memory` is False); `recall_only` answers from memory
    alone, asking no model, so it needs no endpoint; `tune` tunes the chosen kernel on a GPU.
    `more_minutes` (with `resume`) adds time to the run; `breaker` says when the endpoint
    counts as down (default: `Breaker()`); `deadline` (epoch seconds) ends a new search's
    budget there instead of `minutes` after it starts."""
    directory = RunDir(run_dir)
    thread_id = _thread_id(directory, thread_id, resume)
    directory.write_meta({"thread_id": thread_id, "problem_path": str(problem_path),
                          "branches": branches, "minutes": minutes, "rounds": rounds,
                          "tokens": tokens, "target_speedup": target_speedup, "mode": mode})
    context = Context(model=model, critic_model=critic_model, mode=mode, sandbox=sandbox,
                      run_dir=str(directory.path), branches=branches,
                      target_speedup=target_speedup, verifier_options=verifier_options or {},
                      verify_timeout_s=verify_timeout_s, answer_attempts=answer_attempts,
                      tool_steps=tool_steps, memory=memory, use_memory=use_memory,
                      recall_only=recall_only, tune=tune, breaker=breaker or Breaker())
    if not recall_only:
        context.generator()  # a missing endpoint fails here, before any work is done
        context.critic()
    own_sandbox = sandbox is None
    if sandbox is None:
        context.sandbox = get_sandbox("local",
                                      cpu_workers=max(1, min(branches, os.cpu_count() or 1)))
    config: dict[str, Any] = {"configurable": {"thread_id": thread_id},
                              "max_concurrency": max(MAX_CONCURRENCY, 2 * branches)}
    try:
        with closing(directory.open_checkpoints()) as conn:
            graph = build_graph(checkpointer=SqliteSaver(conn))
            started = bool(graph.get_state(config).values)
            search_input = None if started else {
                "problem_path": str(problem_path),
                "budget": {"minutes": minutes, "rounds": rounds, "tokens": tokens,
                           "deadline": deadline},
                **({"request": request} if request else {}),
                **({"problem_text": problem_text} if problem_text else {})}
            _stream(graph, search_input, config, context, on_event)
            if resume and more_minutes is not None:
                restart = _more_time(graph.get_state(config).values, more_minutes, context)
                if restart is not None:
                    if on_event is not None:
                        on_event(restart[1])
                    _stream(graph, restart[0], config, context, on_event)
            values = graph.get_state(config).values
    finally:
        if own_sandbox:
            context.sandbox.close()
    return _result(thread_id, directory, values)


def _stream(graph: CompiledStateGraph, graph_input: Any, config: dict[str, Any],
            context: Context, on_event: Callable[[Event], None] | None) -> None:
    for event in graph.stream(graph_input, config, context=context, stream_mode="custom",
                              durability="sync"):
        if on_event is not None:
            on_event(event)


def _more_time(values: dict[str, Any], minutes: float, context: Context
               ) -> tuple[Command, Event] | None:
    """The input that searches on from a finished run's last round for `minutes` more, and the
    event that says so; None when more time would change nothing (or no search ran)."""
    if not values.get("branches") or not values.get("round"):
        return None
    now = time.time()
    deadline = now + 60 * minutes
    number = values["round"]
    if stop_reason(values.get("best"), context, number, values.get("max_rounds"),
                   deadline - now, values.get("tokens_used", 0), values.get("max_tokens"),
                   []) is not None:
        return None
    sends = next_round(values, number, deadline, values.get("history", [])[-HISTORY_SENT:],
                       back_off=False)
    update = {"deadline": deadline, "round": number + 1, "round_started_at": now,
              "endpoint": HEALTHY, "error": None, "stop_reason": None}
    event = {"event": "time_added", "time": now, "minutes": minutes,
             "seconds_left": 60 * minutes, "round": number + 1}
    return Command(update=update, goto=sends), event


def _thread_id(directory: RunDir, thread_id: str | None, resume: bool) -> str:
    recorded = directory.read_meta().get("thread_id")
    if resume:
        if thread_id is None and recorded is None:
            raise RunDirInUse(f"nothing to resume in {directory.path}: no run.json")
        return thread_id or recorded
    if recorded is not None and recorded != thread_id:
        raise RunDirInUse(f"{directory.path} holds the search {recorded}; pass resume=True "
                          "to continue it, or use another run directory")
    return thread_id or uuid.uuid4().hex


def _result(thread_id: str, directory: RunDir, values: dict[str, Any]) -> SearchResult:
    chosen = values.get("chosen")
    status = "error" if values.get("error") and chosen is None else (
        "pass" if chosen is not None else "fail")
    return SearchResult(
        thread_id=thread_id, run_dir=directory.path, status=status,
        stop_reason=values.get("stop_reason"), error=values.get("error"), chosen=chosen,
        candidates=values.get("candidates", []), failures=values.get("failures", []),
        rounds=values.get("round", 0), tokens_used=values.get("tokens_used", 0),
        endpoint_down=bool((values.get("endpoint") or {}).get("down")),
        attempts=directory.attempts())
