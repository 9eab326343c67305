"""Generate-and-evaluate: run the agent's search on each problem within the budget.

Each problem's search has its own directory (`RUN_DIR/searches/<id>/`, the graph runner's run
directory with its checkpoints), so a killed eval resumes every unfinished search where it
stopped. Every candidate the search verifies becomes an attempt row the moment its
`candidate_verified` event arrives, timed from the problem's first start: that is what the
scaling curve is drawn from. Token usage is counted per problem by a callback on the model.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from kernel_agent.agent.models import ModelConfig, make_chat_model, uses_tools
from kernel_agent.agent.usage import UsageTracker
from kernel_agent.evals.jobs import Finished, Worker
from kernel_agent.evals.store import Attempt, Claim
from kernel_agent.graphs import run_search
from kernel_agent.graphs.rundir import META, RunDir

SEARCHES = "searches"
BAD_INPUT_STOP = "bad input"  # the search's stop reason when intake refused the problem


class GenerateAndEvaluate:
    """One search per problem with the given model, budget and branches. With `memory`, a
    problem kernel memory knows starts from the remembered kernel (re-verified); without it,
    every problem is solved from scratch, which is what measuring the agent itself needs."""

    def __init__(self, model: ModelConfig, run_dir: Path, *, minutes: float, branches: int,
                 rounds: int | None = None, timeout_s: float | None = None,
                 memory: bool = True) -> None:
        self.model, self.run_dir = model, Path(run_dir)
        self.minutes, self.branches, self.rounds, self.timeout_s = (
            minutes, branches, rounds, timeout_s)
        self.memory = memory

    def search_dir(self, problem: str) -> Path:
        return self.run_dir / SEARCHES / problem.replace("/", "__")

    def __call__(self, claim: Claim, worker: Worker) -> Finished:
        directory = self.search_dir(claim.id)
        earlier = worker.store.usage(claim.id)  # from the sessions before a kill
        tracker = UsageTracker()

        def usage() -> dict[str, int]:
            total = tracker.total
            return {"prompt_tokens": earlier["prompt_tokens"] + total.prompt_tokens,
                    "completion_tokens": earlier["completion_tokens"] + total.completion_tokens,
                    "requests": earlier["requests"] + total.requests}

        def on_event(event: dict[str, Any]) -> None:
            if event["event"] == "candidate_verified":
                candidate = RunDir(directory).recorded(event["id"])
                if candidate is not None:
                    worker.store.add_attempt(claim.id, attempt_of(candidate, event["time"],
                                                                  claim.started_at))
                worker.store.set_usage(claim.id, usage())

        result = run_search(
            claim.path, directory, model=make_chat_model(self.model, callbacks=[tracker]),
            mode="tools" if uses_tools(self.model) else "closed_loop", branches=self.branches,
            minutes=self.minutes, rounds=self.rounds, sandbox=worker.sandbox,
            resume=(directory / META).exists(), on_event=on_event,
            verify_timeout_s=self.timeout_s, use_memory=self.memory)
        # A candidate verified just before a kill may have missed its event: timed as found.
        late = tuple(attempt_of(c, time.time(), claim.started_at) for c in result.candidates)
        if result.stop_reason == BAD_INPUT_STOP:
            return Finished("bad_input", result.error or "", late, usage())
        outcome = "error" if result.status == "error" and not result.candidates else "evaluated"
        return Finished(outcome, result.error or result.stop_reason or "", late, usage())


def attempt_of(candidate: dict[str, Any], finished_at: float, problem_start: float) -> Attempt:
    return Attempt(candidate=candidate["id"], started_at=finished_at - candidate["verify_s"],
                   finished_at=finished_at, elapsed_s=max(0.0, finished_at - problem_start),
                   verdict=candidate["verdict"], tokens=candidate["tokens"])
