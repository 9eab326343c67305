"""Where one verdict's time goes: seconds per named phase, each second counted once.

A verdict's latency is mostly fixed costs (hand-off, imports, compiling, the reference's work),
and only a breakdown shows which of them to cut. Phases nest: entering one pauses the phase
around it, so the parts add up to the whole. On a GPU the clock synchronises the device when a
phase ends, or queued work would be charged to whichever phase next waits for the device.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from time import perf_counter

# The order a verdict's phases happen in; the host's own come first and last.
ORDER = ("sandbox_handoff", "imports", "judge", "candidate_start", "cuda_init", "load_problem",
         "load_candidate", "build_models", "inputs", "reference_outputs", "first_call",
         "correctness_trials", "kernel_share", "timing", "timed_output_check", "kernel_check",
         "audit", "race", "baselines", "static_review", "other", "result_transfer")


class PhaseClock:
    """Exclusive seconds per phase; `sync` (e.g. torch.cuda.synchronize) runs as a phase ends."""

    def __init__(self, sync: Callable[[], None] | None = None) -> None:
        self.sync = sync
        self.seconds: dict[str, float] = {}
        self.stack: list[str] = []
        self.mark = perf_counter()

    def charge(self) -> None:
        """Give the time since the last mark to the phase now running."""
        now = perf_counter()
        if self.stack:
            name = self.stack[-1]
            self.seconds[name] = self.seconds.get(name, 0.0) + now - self.mark
        self.mark = now

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self.charge()
        self.stack.append(name)
        try:
            yield
            if self.sync is not None:  # only after a clean end: a failure must surface as is
                self.sync()
        finally:
            self.charge()
            self.stack.pop()

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def rounded(self) -> dict[str, float]:
        """Phases in ORDER (unknown names last), in seconds to the millisecond."""
        names = sorted(self.seconds, key=lambda n: ORDER.index(n) if n in ORDER else len(ORDER))
        return {name: round(self.seconds[name], 3) for name in names}


def with_host_phases(phases: dict[str, float], clock: dict[str, float], sent: float,
                     received: float) -> dict[str, float]:
    """The task's phases plus what only the host sees, from the task's wall-clock moments.

    `sent` and `received` are the host's epoch seconds when the request left and the verdict was
    read back; `clock` holds the task's "started", "resolved" and "finished" (sandbox/worker.py).
    Hand-off is request to task start (fork, isolation, reading the request); importing the task's
    module counts as imports; transfer is task end to verdict in hand.
    """
    if not {"started", "resolved", "finished"} <= clock.keys():
        return phases
    return summed(phases, {name: max(0.0, seconds) for name, seconds in (
        ("sandbox_handoff", clock["started"] - sent),
        ("imports", clock["resolved"] - clock["started"]),
        ("result_transfer", received - clock["finished"]))})


def summed(*parts: dict[str, float]) -> dict[str, float]:
    """Phases from several clocks, seconds of the same name added, in ORDER, rounded."""
    total = PhaseClock()
    for part in parts:
        for name, seconds in part.items():
            total.add(name, seconds)
    return total.rounded()
