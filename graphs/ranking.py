"""Which candidate is better: passing beats failing, faster beats slower, closer beats further.

Used by the `best` reducer (parallel branches each offer their candidate in the same step) and by
select. Failing candidates are ranked too, by how far verification got, so the critic can show
the closest attempt when nothing passes yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def rank(candidate: Mapping[str, Any]) -> tuple[float, float]:
    """A sort key; higher is better. Ties go to the earlier candidate (see keep_best)."""
    verdict = candidate.get("verdict") or {}
    if candidate.get("status") == "pass":
        return 4.0, candidate.get("speedup") or 0.0
    trials = verdict.get("trials") or []
    if verdict.get("correct"):
        return 3.0, 0.0  # correct, but rejected by an integrity check
    if trials:
        wrong = sum(t.get("mismatched", 0) for t in trials)
        total = sum(t.get("elements", 0) for t in trials) or 1
        return 2.0, 1.0 - wrong / total
    if verdict.get("compiled"):
        return 1.0, 0.0
    return 0.0, 0.0


def keep_best(current: Mapping[str, Any] | None,
              offered: Mapping[str, Any] | None) -> Any:
    """Reducer for `best`: the offered candidate wins only if it ranks higher."""
    if offered is None:
        return current
    if current is None or rank(offered) > rank(current):
        return offered
    return current


def best_of(candidates: Iterable[Mapping[str, Any]]) -> Any:
    best = None
    for candidate in candidates:
        best = keep_best(best, candidate)
    return best


def passing(candidates: Iterable[Mapping[str, Any]]) -> list[Any]:
    """Passing candidates, best first."""
    found = [c for c in candidates if c.get("status") == "pass"]
    return sorted(found, key=rank, reverse=True)
