"""Where a search's verifications ran: which worker of the local sandbox took each one, on which
GPU, and how many ran at once.

Watched at the fork servers, where a task really runs (a task waiting for a free worker is not
counted as running), by wrapping each server's `run` of a real LocalSandbox; `restore()` puts the
originals back. `watch_default_sandbox` does this to the sandbox that `run_search` makes for
itself, so a test sees what the search's default does on this machine. Used by the CPU tests, the
multi-GPU test and benchmarks/multi_gpu.py.
"""

from __future__ import annotations

import importlib
import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kernel_agent.graphs.intake import REFERENCE_CHECK_PATH
from kernel_agent.sandbox import LocalSandbox, get_sandbox
from kernel_agent.sandbox.launch import REQUEST
from kernel_agent.sandbox.pool import Exit, ForkServer
from kernel_agent.tools.check import VERIFY_TASK

if TYPE_CHECKING:  # the benchmark uses the watch without pytest
    import pytest

RUNNER = importlib.import_module("kernel_agent.graphs.runner")


@dataclass(frozen=True)
class Ran:
    """One task as a fork server received it."""

    task: str
    candidate: str | None  # the candidate's path, for a verification
    worker: int  # the server's position in the pool
    gpu: int | None

    @property
    def verification(self) -> bool:
        """A candidate's verification (not the search's check of its reference problem)."""
        return self.task == VERIFY_TASK and self.candidate != REFERENCE_CHECK_PATH


class PoolWatch:
    """Records every task the sandbox's workers run, and the most verifications at once."""

    def __init__(self, sandbox: LocalSandbox) -> None:
        self.servers = sandbox.pool.servers
        self.ran: list[Ran] = []
        self.verifying = 0
        self.peak_verifying = 0
        self.lock = threading.Lock()
        self.originals = [server.run for server in self.servers]
        for number, server in enumerate(self.servers):
            server.run = self.watched(number, server)  # type: ignore[method-assign]

    def watched(self, number: int, server: ForkServer) -> Callable[[dict[str, Any], float], Exit]:
        run = server.run

        def watched_run(job: dict[str, Any], wall_s: float) -> Exit:
            request = json.loads((Path(job["dir"]) / REQUEST).read_text())
            candidate = (request["payload"].get("candidate") or {}).get("path")
            ran = Ran(request["task"], candidate, number, server.gpu)
            with self.lock:
                self.ran.append(ran)
                if ran.verification:
                    self.verifying += 1
                    self.peak_verifying = max(self.peak_verifying, self.verifying)
            try:
                return run(job, wall_s)
            finally:
                if ran.verification:
                    with self.lock:
                        self.verifying -= 1

        return watched_run

    def verifications(self) -> list[Ran]:
        return [ran for ran in self.ran if ran.verification]

    def per_worker(self) -> Counter[int]:
        """Verifications per worker (by position in the pool); workers with none are absent."""
        return Counter(ran.worker for ran in self.verifications())

    def restore(self) -> None:
        for server, run in zip(self.servers, self.originals, strict=True):
            server.run = run  # type: ignore[method-assign]


def watch_default_sandbox(monkeypatch: pytest.MonkeyPatch) -> list[tuple[dict[str, Any],
                                                                          PoolWatch]]:
    """Watch every sandbox `run_search` makes for itself: (its options, its watch), in order."""
    made: list[tuple[dict[str, Any], PoolWatch]] = []

    def watched_get_sandbox(name: str = "local", **options: Any) -> Any:
        sandbox = get_sandbox(name, **options)
        assert isinstance(sandbox, LocalSandbox), "run_search's default is the local sandbox"
        made.append((options, PoolWatch(sandbox)))
        return sandbox

    monkeypatch.setattr(RUNNER, "get_sandbox", watched_get_sandbox)
    return made
