"""What a worker does with a claimed problem, whichever the mode: the job contract."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from kernel_agent.evals.store import Attempt, Claim, ResultStore
from kernel_agent.sandbox import Sandbox


@dataclass(frozen=True)
class Worker:
    """One worker: its name (gpu0, cpu0, ...), its own sandbox and its own store connection."""

    name: str
    sandbox: Sandbox
    store: ResultStore


@dataclass(frozen=True)
class Finished:
    """How a problem ended; `attempts` not yet recorded are stored with the outcome."""

    outcome: str  # evaluated, bad_input, no_candidate, error
    message: str = ""
    attempts: tuple[Attempt, ...] = ()
    usage: dict[str, int] | None = None


class Job(Protocol):
    """Runs one claimed problem to its end; may record attempts as they happen."""

    def __call__(self, claim: Claim, worker: Worker) -> Finished: ...
