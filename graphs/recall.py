"""Recall: what kernel memory knows of this problem, before any model time is spent.

A kernel remembered for exactly this problem (same fingerprint: normalised reference source and
input signature) is verified again here, on this machine and its library versions; one that
still passes becomes a candidate of round 0 and the starting point of the search, or the answer
when the run asked only for that (`Context.recall_only`, e.g. `solve` with no model endpoint).
One that no longer passes is recorded as such and not offered; one that passes is remembered
again with this machine's verdict. Kernels of similar problems (the
same op family) go into the system prompt as worked examples. Every kernel that passes during a
search is remembered (graphs/remember.py), so the next run starts where this one ended.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import Command

from kernel_agent.agent.prompts import WORKED_EXAMPLE, WORKED_EXAMPLES
from kernel_agent.graphs.context import Context, context_of
from kernel_agent.graphs.state import Candidate, State, VerifyTask
from kernel_agent.graphs.verify import candidate_id, verified_once
from kernel_agent.tools.memory import KernelMemoryError, MemoryEntry, recall

log = logging.getLogger(__name__)
REVERIFIED = 2  # remembered kernels verified again, best first
EXAMPLES = 2  # similar kernels shown to the model
EXAMPLE_CHARS = 6000  # a longer example kernel is left out rather than cut


def recall_node(state: State, runtime: Runtime[Context]) -> Command[Literal["plan", "select"]]:
    context = context_of(runtime)
    memory = context.kernel_memory()
    problem = state["problem"]
    update: dict[str, Any] = {}
    exact: list[MemoryEntry] = []
    similar: list[MemoryEntry] = []
    if memory is not None:
        try:
            exact, similar = recall(problem["text"], memory, limit=REVERIFIED)
        except KernelMemoryError as exc:
            log.warning("kernel memory not used: %s", exc)
    candidates = [_reverified(entry, problem, context) for entry in exact]
    passed = [c for c in candidates if c["status"] == "pass"]
    if candidates:
        update["candidates"] = candidates
        update["best"] = passed[0] if passed else candidates[0]
    if passed:
        update["starting_point"] = {
            "kind": "memory", "id": passed[0]["id"], "code": passed[0]["code"],
            "outcome": passed[0]["headline"], "problem_path": problem["path"]}
    if similar and not context.recall_only:
        update["system_prompt"] = state["system_prompt"] + worked_examples(similar)
    if context.recall_only:
        update["stop_reason"] = (
            "remembered kernel re-verified on this machine" if passed else
            "no remembered kernel passes here" if candidates else
            "kernel memory holds no kernel for this problem")
        return Command(update=update, goto="select")
    return Command(update=update, goto="plan")


def worked_examples(entries: list[MemoryEntry]) -> str:
    shown = [WORKED_EXAMPLE.format(name=e.problem_name, speed=_speed(e), gpu=e.gpu,
                                   code=e.source.rstrip())
             for e in entries if len(e.source) <= EXAMPLE_CHARS][:EXAMPLES]
    return WORKED_EXAMPLES.format(examples="".join(shown)) if shown else ""


def _reverified(entry: MemoryEntry, problem: dict[str, str], context: Context) -> Candidate:
    task = VerifyTask(branch=0, round=0, idea=f"remembered kernel #{entry.id} ({entry.origin}, "
                      f"verified on {entry.gpu}, {entry.created[:10]})", problem=problem,
                      code=entry.source, note=f"kernel memory #{entry.id}", model_s=0.0,
                      tokens=0, failure=None)
    digest = candidate_id(0, 0, entry.source, problem["text"]).rsplit("-", 1)[1]
    return verified_once(task, f"mem{entry.id}-{digest}", context)


def _speed(entry: MemoryEntry) -> str:
    if entry.speedup_eager is None:
        return "correct, not timed"
    return f"{entry.speedup_eager:.2f}x over eager PyTorch"
