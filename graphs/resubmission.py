"""A candidate the run has verified before is not verified again.

Models resubmit: the same file, or the same file with other comments or blank lines, round after
round (one run verified the same syntax error 136 times). Its verdict cannot change, so the
earlier verdict is reused at once, the resubmission is still recorded as a candidate of its own,
and the next prompt tells the model it sent the same code. Two files are the same when their
normalised sources are: the source as `ast.unparse` writes it (comments, blank lines, spacing
and quote style gone) or, for code that does not parse, its lines without trailing whitespace,
blank lines and comment lines.

The ledger is the run directory's candidates.jsonl, which holds every candidate the moment it is
verified, so a resumed run knows what was verified before it stopped. Only candidates of the same
problem count (a conversation's later searches record into the same directory). Branches that
send the same file in the same round take turns, so the second reuses the first's verdict. A
graph run without a run directory has no ledger, and verifies every candidate.
"""

from __future__ import annotations

import ast
import hashlib
import threading
from functools import lru_cache
from typing import Any

from kernel_agent.agent.critic import Diagnosis
from kernel_agent.graphs.rundir import RunDir
from kernel_agent.graphs.state import Candidate, VerifyTask
from kernel_agent.tools.locks import lock_for

__all__ = ["code_digest", "normalised", "resubmitted", "reused", "same_code_lock",
           "verified_before"]

def code_digest(code: str, problem_text: str) -> str:
    """What ends every candidate id (graphs/verify.py `candidate_id`, remembered kernels'): the
    problem is part of it, so records of another problem never match."""
    return hashlib.sha256(f"{problem_text}\0{code}".encode()).hexdigest()[:10]


@lru_cache(maxsize=1024)
def normalised(code: str) -> str:
    """The source with what cannot change its meaning taken out."""
    try:
        return ast.unparse(ast.parse(code))
    except (SyntaxError, ValueError, RecursionError):
        lines = (line.rstrip() for line in code.splitlines())
        return "\n".join(line for line in lines if line.strip() and not line.lstrip()
                         .startswith("#"))


def same_code_lock(run_dir: RunDir, problem_text: str, code: str) -> threading.Lock:
    """One lock per file per run directory, held from the ledger lookup to the record."""
    key = hashlib.sha256(f"{run_dir.path.resolve()}\0{problem_text}\0{normalised(code)}"
                         .encode()).hexdigest()
    return lock_for("same_code", key)


def verified_before(run_dir: RunDir, problem_text: str, code: str) -> dict[str, Any] | None:
    """The first candidate recorded for this problem whose normalised source is `code`'s."""
    wanted = normalised(code)
    for record in run_dir.candidates():
        if _for_problem(record, problem_text) and normalised(record["code"]) == wanted:
            return record
    return None


def reused(earlier: dict[str, Any], task: VerifyTask, cid: str, path: str) -> Candidate:
    """The resubmission as a candidate of its own (`path`, its file name), carrying the earlier
    verdict."""
    code = task["code"]
    assert code is not None
    where = f"round {earlier['round']}, branch {earlier['branch']}"
    return Candidate(
        id=cid, round=task["round"], branch=task["branch"], idea=task["idea"],
        path=path, code=code,
        status=earlier["status"], verdict=earlier["verdict"], speedup=earlier["speedup"],
        headline=f"the same code as candidate {earlier['id']} ({where}): {earlier['headline']}",
        verify_s=0.0, model_s=task["model_s"], tokens=task["tokens"],
        note=(f"{task['note']}; " if task["note"] else "") + f"identical to candidate "
             f"{earlier['id']} ({where}) once comments and blank lines are set aside: its "
             f"verdict is reused, not verified again",
        same_as=earlier["id"])


def resubmitted(diagnosis: Diagnosis, candidate: Candidate) -> Diagnosis:
    """The diagnosis of a resubmission: first that it is one, then what the verdict said."""
    same_as = candidate.get("same_as")
    if not same_as:
        return diagnosis
    headline = (f"you resubmitted the same code as candidate {same_as} (only comments or blank "
                f"lines differ, if anything), so it was not verified again and its verdict "
                f"stands: {diagnosis.headline}. Send a changed file that fixes this.")
    return Diagnosis(diagnosis.kind, headline, diagnosis.evidence)


def _for_problem(record: dict[str, Any], problem_text: str) -> bool:
    return str(record.get("id", "")).endswith("-" + code_digest(record["code"], problem_text))
