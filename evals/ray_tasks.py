"""What a Ray worker runs for one problem: the local pool's job, on plain data in and out.

The driver sends a `ProblemTask` (the problem's and candidate's bytes, the claim's times) and a
`JobSpec` (which job, with what settings); the worker answers with a `TaskOutcome`. Nothing else
crosses: the sandbox is made on the worker (one per Ray worker process, on the GPU Ray assigned,
kept for that process's later tasks), and the job records into a scratch results file of its
own, whose rows come back in the outcome for the driver to write into the run's results file.
Files are read where the driver names them when this host holds the same bytes there (one host,
a shared filesystem), otherwise from copies in the task's scratch directory.
"""

from __future__ import annotations

import atexit
import io
import json
import os
import socket
import tarfile
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kernel_agent.evals.evaluate import EvaluateOnly
from kernel_agent.evals.jobs import Finished, Job, Worker
from kernel_agent.evals.runner import WARM_UP_S, WARM_UP_TASK
from kernel_agent.evals.store import Attempt, Claim, ResultStore
from kernel_agent.evals.suites import SuiteProblem
from kernel_agent.sandbox import Limits, Sandbox, get_sandbox

if TYPE_CHECKING:  # evaluate-only never imports the model stack
    from kernel_agent.agent.models import ModelConfig

API_KEY_ENV = "KERNEL_AGENT_API_KEY"  # how the model's key reaches the workers (runtime_env)


@dataclass(frozen=True)
class SourceFile:
    """A file as the driver names it, with its bytes (None: the driver could not read it)."""

    path: str
    data: bytes | None


@dataclass(frozen=True)
class ProblemTask:
    """One claimed problem, as plain data."""

    id: str
    problem: SourceFile
    candidate: SourceFile | None
    started_at: float
    runs: int
    usage: dict[str, int]  # model usage recorded by earlier sessions of the run
    note: str = ""  # without a candidate: where one was looked for


@dataclass(frozen=True)
class JobSpec:
    """Which job runs each problem, with what settings; `model` travels without its key."""

    timeout_s: float | None  # per verification, as the jobs of the local pool take it
    cpu_slots: int = 1
    model: ModelConfig | None = None  # None: evaluate-only
    minutes: float = 15.0
    branches: int = 4
    rounds: int | None = None
    memory: bool = True

    def job(self, scratch: Path) -> Job:
        """The job the local pool would run; a search keeps its folder under `scratch`."""
        if self.model is None:
            return EvaluateOnly(self.timeout_s)
        from kernel_agent.evals.generate import GenerateAndEvaluate

        key = os.environ.get(API_KEY_ENV) or os.environ.get(self.model.api_key_env or "")
        model = replace(self.model, api_key=key or None)  # the driver's, else the node's own
        return GenerateAndEvaluate(model, scratch, minutes=self.minutes, branches=self.branches,
                                   rounds=self.rounds, timeout_s=self.timeout_s,
                                   memory=self.memory)

    def searches(self, scratch: Path) -> Path | None:
        """Where the job keeps its searches under `scratch` (generate mode only)."""
        if self.model is None:
            return None
        from kernel_agent.evals.generate import SEARCHES

        return scratch / SEARCHES


@dataclass(frozen=True)
class TaskOutcome:
    """How the problem ended, every attempt it made, and where it ran. `search` is the
    generate-mode search directory as a gzipped tar, for the driver to keep with the run."""

    outcome: str
    message: str
    attempts: tuple[Attempt, ...]
    usage: dict[str, int] | None
    worker: str
    search: bytes | None = None

    @property
    def finished(self) -> Finished:
        return Finished(self.outcome, self.message, self.attempts, self.usage)


_SANDBOX: dict[tuple[int | None, int], Sandbox] = {}  # this worker process's one sandbox


def run_problem(task: ProblemTask, spec: JobSpec) -> TaskOutcome:
    """The Ray task: run the problem with the job the local pool runs, in this worker's sandbox;
    a job that raises ends the problem as an error, as in the local pool."""
    name, sandbox = sandbox_here(spec.cpu_slots)
    with tempfile.TemporaryDirectory(prefix="kernel-agent-ray-") as directory:
        scratch = Path(directory)
        problem = on_this_host(task.problem, scratch / "problem")
        candidate = on_this_host(task.candidate, scratch / "candidate") if task.candidate else None
        store = ResultStore(scratch / "results")
        try:
            store.create({}, [SuiteProblem(task.id, None, 0, task.id, problem)],
                         {task.id: candidate} if candidate else {})
            store.set_usage(task.id, task.usage)
            claim = Claim(task.id, problem, candidate, task.started_at, task.runs, task.note)
            try:
                finished = spec.job(scratch)(claim, Worker(name, sandbox, store))
            except Exception as exc:
                finished = Finished("error", f"{type(exc).__name__}: {exc}")
            attempts = (*map(attempt_of, store.attempt_rows()), *finished.attempts)
        finally:
            store.close()
        if candidate is not None and task.candidate is not None:  # named as the driver knows it
            attempts = tuple(replace(a, candidate=task.candidate.path)
                             if a.candidate == str(candidate) else a for a in attempts)
        searches = spec.searches(scratch)
        return TaskOutcome(finished.outcome, finished.message, attempts, finished.usage, name,
                           packed(searches) if searches and searches.is_dir() else None)


def sandbox_here(cpu_slots: int) -> tuple[str, Sandbox]:
    """This worker process's sandbox, on the GPU Ray assigned to the task (or the CPU): started
    and warmed by its first task and kept for the next ones, replaced when Ray assigns another
    GPU; with the worker's name for the results file."""
    import ray

    gpus = [int(g) for g in ray.get_gpu_ids()]
    key = (gpus[0] if gpus else None, cpu_slots)
    if key not in _SANDBOX:
        close_sandbox()
        sandbox = (get_sandbox("local", gpus=gpus[:1], workers_per_gpu=1) if gpus
                   else get_sandbox("local", gpus=[], cpu_workers=cpu_slots))
        started = sandbox.run(WARM_UP_TASK, {}, Limits(wall_s=WARM_UP_S))
        if not started.ok:
            sandbox.close()
            raise RuntimeError(f"the sandbox did not start on {socket.gethostname()}: "
                               f"{started.failure}")
        _SANDBOX[key] = sandbox
    device = f"gpu{key[0]}" if key[0] is not None else "cpu"
    return f"{socket.gethostname()}:{os.getpid()}/{device}", _SANDBOX[key]


@atexit.register
def close_sandbox() -> None:
    for sandbox in _SANDBOX.values():
        sandbox.close()
    _SANDBOX.clear()


def on_this_host(source: SourceFile, folder: Path) -> Path:
    """The driver's path where this host holds the same bytes there, else a copy in `folder`
    under the same file name (an unreadable file keeps the driver's path, to fail as it did)."""
    original = Path(source.path)
    if source.data is None or same_bytes(original, source.data):
        return original
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / original.name
    copy.write_bytes(source.data)
    return copy


def same_bytes(path: Path, data: bytes) -> bool:
    try:
        return path.is_file() and path.read_bytes() == data
    except OSError:
        return False


def attempt_of(row: dict[str, Any]) -> Attempt:
    """An attempt row of the scratch results file, as the job recorded it."""
    return Attempt(row["candidate"], row["started_at"], row["finished_at"], row["elapsed_s"],
                   json.loads(row["verdict"]), row["tokens"])


def packed(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(folder, arcname=".")
    return buffer.getvalue()
