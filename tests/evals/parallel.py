"""Eval runs spread over several workers: what a run decided per problem without its timings
(the part that must not depend on how many workers ran it, or on which device), which worker ran
each problem, and sandboxes started before the run.

`started_first` stands in for `make_sandboxes` in evals/launch.py (through monkeypatch): the same
sandboxes, each with its worker started, all at once, before the run begins. Otherwise a worker
slower than the others to import torch may find a small suite already taken, and a test that
every worker takes part would depend on how fast each one starts.
"""

from __future__ import annotations

import importlib
import threading
from pathlib import Path
from typing import Any

from kernel_agent.evals.results import load_results
from kernel_agent.evals.runner import WARM_UP_S, WARM_UP_TASK, make_sandboxes
from kernel_agent.sandbox import Limits, Sandbox, TaskResult

LAUNCH = importlib.import_module("kernel_agent.evals.launch")  # the package exports `launch`

Decision = tuple[str | None, tuple[tuple[Any, ...], ...]]


def decisions(run_dir: Path) -> dict[str, Decision]:
    """problem id -> (outcome, one (status, compiled, numerically correct, flags, error kind)
    per attempt); unfinished problems have outcome None."""
    results = load_results(run_dir)
    return {row["id"]: (row["outcome"], tuple(attempt_decision(a)
                                              for a in results.attempts_of(row["id"])))
            for row in results.problem_rows}


def attempt_decision(row: dict[str, Any]) -> tuple[Any, ...]:
    verdict = row["verdict"]
    return (row["status"], bool(row["compiled"]), row["correct"],
            tuple(sorted(flag["name"] for flag in verdict.get("flags", []))),
            (verdict.get("error") or {}).get("kind"))


def workers_of(run_dir: Path) -> dict[str, str]:
    """problem id -> the worker that ran it, as the results file records it."""
    return {row["id"]: row["worker"] for row in load_results(run_dir).problem_rows}


def started_first(gpus: list[int], cpu_workers: int,
                  cpu_slots: int) -> list[tuple[str, Sandbox]]:
    """make_sandboxes, then every sandbox's worker started (at once), before any is used."""
    sandboxes = make_sandboxes(gpus, cpu_workers, cpu_slots)
    results: dict[str, TaskResult] = {}

    def start(name: str, sandbox: Sandbox) -> None:
        results[name] = sandbox.run(WARM_UP_TASK, {}, Limits(wall_s=WARM_UP_S))

    threads = [threading.Thread(target=start, args=item) for item in sandboxes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    failed = {name: result.failure for name, result in results.items() if not result.ok}
    assert not failed and len(results) == len(sandboxes), failed
    return sandboxes
