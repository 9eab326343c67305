"""Reading a run back from its SQLite file into the records the metrics and reports use."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kernel_agent.evals.metrics import AttemptResult, ProblemResult
from kernel_agent.evals.store import ResultStore


@dataclass(frozen=True)
class RunResults:
    """Everything recorded about a run: settings, finished problems, and the raw rows."""

    run_dir: Path
    meta: dict[str, Any]
    problems: list[ProblemResult]  # finished ones, in suite order
    problem_rows: list[dict[str, Any]]  # every problem, finished or not
    attempt_rows: list[dict[str, Any]]  # with the verdict parsed

    @property
    def unfinished(self) -> list[str]:
        return [row["id"] for row in self.problem_rows if row["state"] != "done"]

    def attempts_of(self, problem: str) -> list[dict[str, Any]]:
        return [row for row in self.attempt_rows if row["problem"] == problem]


# Stages at which a candidate fails before its kernels were built: loading the module (where
# load_inline compiles CUDA) and constructing ModelNew. A sandbox failure (timeout, crash)
# leaves it unknown, and the verifier records compiled=False for it.
BEFORE_COMPILATION = ("load_candidate", "build")
# How a compiler's own failure reads when it surfaces later, at a kernel's first launch.
COMPILE_ERROR_MARKS = ("CompilationError", "Error building extension")


def reached_compilation(verdict: dict[str, Any]) -> bool:
    """Whether the candidate's kernels were built: the verifier's `compiled` says only that
    the module loaded, so a constructor that raised (before any kernel ran) does not count."""
    if not verdict.get("compiled") or verdict.get("stage") in BEFORE_COMPILATION:
        return False
    message = (verdict.get("error") or {}).get("message") or ""
    return not any(mark in message for mark in COMPILE_ERROR_MARKS)


def attempt_result(row: dict[str, Any]) -> AttemptResult:
    verdict = row["verdict"]
    return AttemptResult(
        elapsed_s=row["elapsed_s"], status=row["status"],
        compiled=reached_compilation(verdict),
        correct=bool(row["correct"]), speedup_eager=row["speedup_eager"],
        speedup_compiled=row["speedup_compiled"],
        flags=tuple(flag["name"] for flag in verdict.get("flags", [])),
        on_gpu=(verdict.get("device") or {}).get("type") == "cuda")


def load_results(run_dir: Path) -> RunResults:
    """The run in `run_dir` as it stands (a run still going, or killed, reads fine)."""
    store = ResultStore(run_dir, create=False)
    try:
        meta, rows, attempts = store.meta(), store.problem_rows(), store.attempt_rows()
    finally:
        store.close()
    for attempt in attempts:
        attempt["verdict"] = json.loads(attempt["verdict"])
    finished = []
    for row in rows:
        if row["state"] != "done":
            continue
        mine = tuple(attempt_result(a) for a in attempts if a["problem"] == row["id"])
        finished.append(ProblemResult(
            id=row["id"], level=row["level"], outcome=row["outcome"], attempts=mine,
            prompt_tokens=row["prompt_tokens"] or 0,
            completion_tokens=row["completion_tokens"] or 0, requests=row["requests"] or 0))
    return RunResults(Path(run_dir), meta, finished, rows, attempts)
