"""The one contract every sandbox backend keeps: run a named task on a payload, within limits.

A task is named "package.module:function"; it takes a JSON-serialisable dict and returns one.
Backends resolve the name inside the sandbox, so this package never imports the tasks it runs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

FailureKind = Literal["timeout", "crashed", "out_of_memory", "cuda_error", "sandbox_error"]


@dataclass(frozen=True)
class Limits:
    """What a task may use. None means the backend's default."""

    wall_s: float = 300.0
    memory_mb: int | None = None
    max_processes: int | None = None
    gpu_ids: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Failure:
    """Why a task produced no result: the sandbox's word, not the task's."""

    kind: FailureKind
    message: str
    signal: int | None = None


@dataclass
class TaskResult:
    """The task's return value, or the failure that prevented it, plus what it printed."""

    value: dict[str, Any] | None = None
    failure: Failure | None = None
    output_tail: str = ""
    elapsed_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    # Epoch seconds the task reported: "started", "resolved" (its module imported), "finished".
    clock: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.failure is None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Sandbox(Protocol):
    """Runs untrusted work somewhere it can hurt nothing."""

    name: str

    def run(self, task: str, payload: dict[str, Any], limits: Limits | None = None) -> TaskResult:
        """Run `task` on `payload`; never raises for anything the task does."""
        ...

    def close(self) -> None:
        """Release workers, containers and temporary files."""
        ...
