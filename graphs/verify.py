"""Verify: the full verdict for one branch's candidate, recorded the moment it exists.

The verdict is written to candidates.jsonl and returned into the state in the same step, so the
checkpoint after this step holds it. A verify step that finds its candidate already in the run
directory (the run was killed after verifying, before the checkpoint) reuses that verdict
instead of verifying again; so does one whose code the run verified before, in any round or
branch (graphs/resubmission.py). Branches without code pass their failure on to the round's end.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any, cast

from langgraph.runtime import Runtime

from kernel_agent.agent.critic import diagnose
from kernel_agent.graphs.context import Context, context_of
from kernel_agent.graphs.events import emit
from kernel_agent.graphs.remember import remember_passing
from kernel_agent.graphs.resubmission import code_digest, reused, same_code_lock, verified_before
from kernel_agent.graphs.rundir import RunDir
from kernel_agent.graphs.state import Candidate, VerifyTask
from kernel_agent.tools.check import verify_sources
from kernel_agent.tools.verdict import Verdict


def candidate_id(round_: int, branch: int, code: str, problem_text: str) -> str:
    """Stable across a resume: the same code from the same branch and round, for the same
    problem, has the same id. The problem is part of it because a thread's later searches (a
    follow-up in a conversation) record into the same run directory."""
    return f"r{round_:02d}-b{branch}-{code_digest(code, problem_text)}"


def candidate_path(task: VerifyTask) -> str:
    """The file name a candidate goes by in its verdict and in the model's next prompt."""
    return f"round{task['round']}_branch{task['branch']}.py"


def verify(payload: dict[str, Any], runtime: Runtime[Context]) -> dict[str, Any]:
    task = cast(VerifyTask, payload)  # a Send payload, not the graph state
    if task["failure"] is not None or task["code"] is None:
        return {"failures": [task["failure"]]}
    cid = candidate_id(task["round"], task["branch"], task["code"], task["problem"]["text"])
    candidate = verified_once(task, cid, context_of(runtime))
    return {"candidates": [candidate], "best": candidate}


def verified_once(task: VerifyTask, cid: str, context: Context) -> Candidate:
    """The candidate `cid` with its verdict: the one the run directory recorded (a resumed run),
    else the verdict of the same code verified earlier in the run (graphs/resubmission.py), else
    verified now, recorded and, when it passes, remembered; announced either way."""
    run_dir = context.run_directory()
    if run_dir is None:
        candidate, reuse = _verified(task, cid, context), False
        remember_passing(candidate, task["problem"], context)
    else:
        with same_code_lock(run_dir, task["problem"]["text"], task["code"] or ""):
            candidate, reuse = _recorded_or_verified(task, cid, context, run_dir)
    emit("candidate_verified", branch=task["branch"], round=task["round"], id=cid,
         status=candidate["status"], speedup=candidate["speedup"],
         headline=candidate["headline"], verify_s=round(candidate["verify_s"], 3),
         reused=reuse, same_as=candidate.get("same_as"))
    return candidate


def _recorded_or_verified(task: VerifyTask, cid: str, context: Context,
                          run_dir: RunDir) -> tuple[Candidate, bool]:
    """(candidate, whether its verdict was reused rather than verified now)."""
    recorded = run_dir.recorded(cid)
    if recorded is not None:
        return cast(Candidate, recorded), True
    earlier = verified_before(run_dir, task["problem"]["text"], task["code"] or "")
    if earlier is not None:
        candidate = reused(earlier, task, cid, candidate_path(task))
        run_dir.record(dict(candidate))
        return candidate, True
    candidate = _verified(task, cid, context)
    run_dir.record(dict(candidate))
    remember_passing(candidate, task["problem"], context)
    return candidate, False


def judged(verdict: Verdict, code: str, context: Context) -> dict[str, Any]:
    """What a candidate takes from its verdict: status, the critic's headline, the speedup."""
    timing = verdict.timing
    return {"status": verdict.status, "verdict": verdict.to_dict(),
            "headline": diagnose(verdict, code, target_speedup=context.target_speedup).headline,
            "speedup": timing.speedup_eager if timing else None}


def _verified(task: VerifyTask, cid: str, context: Context) -> Candidate:
    code = task["code"]
    assert code is not None
    path = candidate_path(task)
    started = perf_counter()
    verdict = verify_sources(task["problem"], {"text": code, "path": path},
                             sandbox=context.sandbox_in_use(), limits=context.limits(),
                             deadline=task.get("deadline"), **context.verifier_options)
    return Candidate(
        id=cid, round=task["round"], branch=task["branch"], idea=task["idea"], path=path,
        code=code, verify_s=perf_counter() - started, model_s=task["model_s"],
        tokens=task["tokens"], note=task["note"], **judged(verdict, code, context))
