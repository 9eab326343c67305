"""Tune: try the chosen kernel's launch parameters on the GPU and keep a faster correct variant.

Runs only when the chosen candidate was verified on a GPU (its verdict's device type is "cuda")
and the run's Context allows it (`Context.tune`, on by default); otherwise it changes
nothing, since without timing there is nothing to choose by. A variant that wins
(tools/tuning.py: verified in full, then faster than the original beyond the spread of both when
the two are re-timed interleaved) becomes a new candidate, id
`<chosen id>-tuned`, recorded in the run directory like every verified candidate, and replaces
`chosen`; the `new_best` event announces it.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

from langgraph.runtime import Runtime

from kernel_agent.graphs.context import Context, context_of
from kernel_agent.graphs.events import emit
from kernel_agent.graphs.remember import remember_passing
from kernel_agent.graphs.state import Candidate, State
from kernel_agent.graphs.verify import judged
from kernel_agent.tools.tuning import tune_sources

# Each variant is a full GPU verification (trials, then timing): this bounds the node's time.
MAX_VARIANTS = 16


def tune(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    context = context_of(runtime)
    chosen = state.get("chosen")
    if (chosen is None or not context.tune
            or chosen["verdict"].get("device", {}).get("type") != "cuda"):
        return {}
    started = perf_counter()
    result = tune_sources(state["problem"], {"text": chosen["code"], "path": chosen["path"]},
                          sandbox=context.sandbox_in_use(), limits=context.limits(),
                          max_variants=MAX_VARIANTS, **context.verifier_options)
    if not result.improved:
        return {}
    row = result.best_row
    assert row.verdict is not None
    tuned = Candidate(
        id=f"{chosen['id']}-tuned", round=chosen["round"], branch=chosen["branch"],
        idea=chosen["idea"], path=chosen["path"], code=result.best,
        verify_s=perf_counter() - started, model_s=0.0, tokens=0,
        note=f"tuned from {chosen['id']}: {row.describe()}; {result.reason}",
        **judged(row.verdict, result.best, context))
    run_dir = context.run_directory()
    if run_dir is not None:
        run_dir.record(dict(tuned))
    remember_passing(tuned, state["problem"], context)
    emit("new_best", id=tuned["id"], round=tuned["round"], branch=tuned["branch"],
         status=tuned["status"], speedup=tuned["speedup"])
    return {"chosen": tuned, "candidates": [tuned]}
