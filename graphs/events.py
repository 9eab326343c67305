"""Progress events, streamed as LangGraph custom stream data (`stream_mode="custom"`).

Each event is a flat JSON-able dict with `event` (one of EVENTS) and `time` (epoch seconds), so
the CLI, a parent graph (`subgraphs=True`) or a test reads them the same way. Durations of the
slow parts (model calls, verification) travel in the events, which is how the graph's own
overhead is measured (benchmarks/graph_overhead.py).
"""

from __future__ import annotations

import time
from typing import Any

from langgraph.config import get_stream_writer

EVENTS = (
    "run_started",  # problem, branches, budget
    "plan_ready",  # ideas per branch, source of the ideas, model_s, tokens
    "round_started",  # round
    "candidate_generated",  # branch, round, model_s, tokens, note
    "generation_failed",  # branch, round, kind, message, model_s
    "attempt_failed",  # branch, round, kind, message, model_s: a fault the step went on from
    "time_added",  # minutes, seconds_left, round: a finished run resumed with more time
    "candidate_verified",  # branch, round, id, status, speedup, headline, verify_s, reused
    "critic_done",  # branch, round, model_s, diagnosis kind
    "new_best",  # id, round, branch, status, speedup
    "round_finished",  # round, seconds, verified, passed, failures
    "budget",  # round, rounds_left, seconds_left, tokens_used, tokens_left
    "retimed",  # measured, reason, results, failed (finalists wrong while re-timed)
    "finished",  # stop_reason, error, best id, run_dir
    "reference_drafted",  # revision, attempt, origin (model, edited), ok, error, model_s, tokens
    "reference_approved",  # path, revision, request
)


def emit(event: str, **data: Any) -> None:
    """Send one progress event to whoever streams this run."""
    assert event in EVENTS, event
    get_stream_writer()({"event": event, "time": time.time(), **data})
