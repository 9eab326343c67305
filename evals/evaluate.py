"""Evaluate-only: judge the existing candidate of each problem once (KernelBench's
eval_from_generations, with this project's stricter verifier)."""

from __future__ import annotations

import time

from kernel_agent.evals.jobs import Finished, Worker
from kernel_agent.evals.store import Attempt, Claim
from kernel_agent.sandbox import Limits
from kernel_agent.tools.check import BadInput, BaselineCache, check_files


class EvaluateOnly:
    """One verification per problem; baselines come from (and go to) the shared cache."""

    def __init__(self, timeout_s: float | None = None,
                 baselines: BaselineCache | None = None) -> None:
        self.limits = Limits(wall_s=timeout_s) if timeout_s else None  # None: per problem
        self.baselines = baselines or BaselineCache()

    def __call__(self, claim: Claim, worker: Worker) -> Finished:
        if claim.candidate is None:
            return Finished("no_candidate", claim.note or "no candidate file for this problem")
        started = time.time()
        try:
            verdict = check_files(claim.path, claim.candidate, sandbox=worker.sandbox,
                                  limits=self.limits, baselines=self.baselines)
        except BadInput as exc:
            return Finished("error", str(exc))
        finished = time.time()
        attempt = Attempt(candidate=str(claim.candidate), started_at=started,
                          finished_at=finished, elapsed_s=finished - started,
                          verdict=verdict.to_dict())
        outcome = "bad_input" if verdict.status == "bad_input" else "evaluated"
        return Finished(outcome, verdict.error.message if verdict.error else "", (attempt,))
