"""Rich progress for a running eval: problems done, correct so far, ETA, one line per problem.

The line per finished problem is printed above the bar, so a log (a CI job, a GPU host's
nohup.out) keeps the whole story even where the bar itself is not drawn.
"""

from __future__ import annotations

import threading

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from kernel_agent.evals.jobs import Finished


class RichProgress:
    """The `Progress` of evals.runner, drawn with Rich."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console()
        self.bar = Progress(
            TextColumn("[bold]eval"), BarColumn(), MofNCompleteColumn(),
            TextColumn("correct so far: [green]{task.fields[passed]}"), TimeElapsedColumn(),
            TextColumn("ETA"), TimeRemainingColumn(), TextColumn("[dim]{task.fields[running]}"),
            console=self.console)
        self.lock = threading.Lock()
        self.task = self.bar.add_task("eval", total=0, passed=0, running="")
        self.passed = 0
        self.running: dict[str, str] = {}  # worker -> problem

    def start(self, total: int, done: int, passed: int, recovered: list[str]) -> None:
        self.passed = passed
        if done:
            self.console.print(f"resuming: {done} of {total} problems already done "
                               f"({passed} correct); they are not run again")
        if recovered:
            self.console.print(f"unfinished when the run stopped, run again: "
                               f"{', '.join(recovered)}")
        self.bar.update(self.task, total=total, completed=done, passed=passed)
        self.bar.start()

    def problem_started(self, problem: str, worker: str) -> None:
        with self.lock:
            self.running[worker] = problem
            self.bar.update(self.task, running=self.now_running())

    def problem_finished(self, problem: str, finished: Finished, seconds: float) -> None:
        passed = any(a.verdict["status"] == "pass" for a in finished.attempts)
        with self.lock:
            self.passed += passed
            self.running = {w: p for w, p in self.running.items() if p != problem}
            self.bar.update(self.task, advance=1, passed=self.passed,
                            running=self.now_running())
        self.bar.console.print(f"{problem}: {describe(finished)} ({seconds:.1f} s)")

    def stop(self) -> None:
        self.bar.stop()

    def now_running(self) -> str:
        return ", ".join(f"{w}: {p}" for w, p in sorted(self.running.items()))


def describe(finished: Finished) -> str:
    """One line: the outcome, and for an evaluated problem its best verdict."""
    if finished.outcome == "no_candidate":  # names the paths tried: said in full
        return f"[yellow]{finished.outcome}[/]: {escape(finished.message)}"
    if finished.outcome != "evaluated" or not finished.attempts:
        return f"[yellow]{finished.outcome}[/]: {escape(finished.message[:160])}"
    verdicts = [a.verdict for a in finished.attempts]
    best = next((v for v in verdicts if v["status"] == "pass"), verdicts[-1])
    if best["status"] == "pass":
        timing = best.get("timing") or {}
        speed = (f", {timing['speedup_eager']:.2f}x eager" if timing.get("speedup_eager")
                 else ", speed not measured")
        return f"[green]PASS[/]{speed} ({len(verdicts)} attempt(s))"
    error = best.get("error") or {}
    flags = ", ".join(f["name"] for f in best.get("flags", []))
    reason = error.get("kind") or (f"flags: {flags}" if flags else "wrong values")
    return f"[red]FAIL[/] {reason} ({len(verdicts)} attempt(s))"
