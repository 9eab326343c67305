"""A conversation on one thread: the person's messages, reviews of drafted references, searches.

The chat CLI, and any program that keeps a person in the loop, drives the graph through this.
`say(text)` sends a message; the graph stops either at the review of a drafted reference
(`Review`) or at the end of a search (`SearchResult`, whose run_dir is the search's own folder,
search_<N>/, holding its reference, best kernel and report). `answer(value)` resumes a review
with an approval, an edited file or a change request (graphs/review.py). The checkpointer lives
in the run directory (`checkpoints.sqlite`) and run.json remembers the thread id, so a
conversation continues where it stopped, in this process or a later one; every message after a
search is a follow-up on the same thread (graphs/intake.py); a run that stopped midway (a killed
process) is continued with `resume()`. The context is not checkpointed: a later process passes
the model and settings again.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.types import Command

from kernel_agent.graphs.context import Context, Mode, ModelSpec
from kernel_agent.graphs.graph import MAX_CONCURRENCY, build_graph
from kernel_agent.graphs.rundir import RunDir
from kernel_agent.graphs.runner import Event, SearchResult
from kernel_agent.graphs.searches import search_folder
from kernel_agent.sandbox import Sandbox, get_sandbox

REVIEW_KIND = "reference_review"  # the `kind` of the review node's interrupt value


class NotYourTurn(Exception):
    """A message while a drafted reference waits for its answer, or an answer with none."""


@dataclass(frozen=True)
class Review:
    """A drafted reference waiting for the person (the review node's interrupt value)."""

    reference: str
    request: str
    validation: dict[str, Any]  # ok, error, device, gpu, seconds
    revision: int
    origin: str  # model, edited
    question: str
    refusal: str | None = None  # why an approval of this draft was refused (it cannot be used)


class Conversation:
    """One thread in one run directory; close it (or use `with`) to release the sandbox."""

    def __init__(self, run_dir: str | Path, *, model: ModelSpec = None,
                 critic_model: ModelSpec = None, mode: Mode = "auto", branches: int = 4,
                 minutes: float = 15.0, rounds: int | None = None, tokens: int | None = None,
                 target_speedup: float | None = None, sandbox: Sandbox | None = None,
                 on_event: Callable[[Event], None] | None = None,
                 verifier_options: dict[str, Any] | None = None,
                 verify_timeout_s: float | None = None) -> None:
        self.directory = RunDir(run_dir)
        recorded = self.directory.read_meta()
        self.continued = bool(recorded.get("thread_id"))
        self.thread_id: str = recorded.get("thread_id") or uuid.uuid4().hex
        self.budget = {"minutes": minutes, "rounds": rounds, "tokens": tokens}
        self.on_event = on_event
        self._own_sandbox = sandbox is None
        self.sandbox = sandbox or get_sandbox(
            "local", cpu_workers=max(1, min(branches, os.cpu_count() or 1)))
        self.context = Context(model=model, critic_model=critic_model, mode=mode,
                               sandbox=self.sandbox, run_dir=str(self.directory.path),
                               branches=branches, target_speedup=target_speedup,
                               verifier_options=verifier_options or {},
                               verify_timeout_s=verify_timeout_s)
        self._conn: sqlite3.Connection | None = None
        try:
            self.context.generator()  # a missing endpoint fails here, before any work
            self.context.critic()
            self._conn = self.directory.open_checkpoints()
        except BaseException:
            self.close()
            raise
        self.graph = build_graph(checkpointer=SqliteSaver(self._conn))
        self.config: dict[str, Any] = {"configurable": {"thread_id": self.thread_id},
                                       "max_concurrency": max(MAX_CONCURRENCY, 2 * branches)}
        self.directory.write_meta({**recorded, "thread_id": self.thread_id,
                                   "conversation": True, "branches": branches, **self.budget,
                                   "target_speedup": target_speedup, "mode": mode})

    def __enter__(self) -> Conversation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._own_sandbox:
            self.sandbox.close()

    def say(self, text: str) -> Review | SearchResult:
        """Send the person's message: a request, or a follow-up after a search."""
        if not text.strip():
            raise ValueError("the message is empty")
        if self.pending() is not None:
            raise NotYourTurn("a drafted reference waits for an answer: approve it, send an "
                              "edited file or a change request with answer()")
        return self._run({"messages": [HumanMessage(text)], "budget": self.budget})

    def answer(self, value: Any) -> Review | SearchResult:
        """Resume the review: "yes", an edited file, words asking for a change (or a dict)."""
        if self.pending() is None:
            raise NotYourTurn("no drafted reference waits for an answer; send a message")
        return self._run(Command(resume=value))

    def resume(self) -> Review | SearchResult:
        """Continue a run that stopped before its end (the process was killed, a step raised);
        steps that finished are not run again."""
        if not self.unfinished():
            raise NotYourTurn("nothing to resume: no run on this thread stopped before its end")
        return self._run(None)

    def unfinished(self) -> bool:
        """Whether a run on this thread stopped before its end, other than at a review."""
        snapshot = self.graph.get_state(self.config)
        return bool(snapshot.next) and not snapshot.interrupts

    def pending(self) -> Review | None:
        """The review the thread is stopped at, if any."""
        for item in self.graph.get_state(self.config).interrupts:
            value = item.value
            if isinstance(value, dict) and value.get("kind") == REVIEW_KIND:
                return Review(reference=value["reference"], request=value["request"],
                              validation=value["validation"], revision=value["revision"],
                              origin=value["origin"], question=value["question"],
                              refusal=value.get("refusal"))
        return None

    def values(self) -> dict[str, Any]:
        """The thread's state as the checkpointer has it."""
        return dict(self.graph.get_state(self.config).values)

    @property
    def search_number(self) -> int:
        """Which search of the thread the current (or latest) one is, from 1."""
        return len(self.values().get("searches", [])) + 1

    def _run(self, graph_input: Any) -> Review | SearchResult:
        for event in self.graph.stream(graph_input, self.config, context=self.context,
                                       stream_mode="custom", durability="sync"):
            if self.on_event is not None:
                self.on_event(event)
        review = self.pending()
        if review is not None:
            return review
        values = self.values()
        chosen = values.get("chosen")
        status = "error" if values.get("error") and chosen is None else (
            "pass" if chosen is not None else "fail")
        folder = self.directory.path / search_folder(len(values.get("searches", [])) + 1)
        return SearchResult(
            thread_id=self.thread_id, run_dir=folder if folder.is_dir() else self.directory.path,
            status=status,
            stop_reason=values.get("stop_reason"), error=values.get("error"), chosen=chosen,
            candidates=values.get("candidates", []), failures=values.get("failures", []),
            rounds=values.get("round", 0), tokens_used=values.get("tokens_used", 0))
