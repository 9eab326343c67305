"""`kernel-agent eval --ray`: a run's problems as Ray tasks; the driver alone writes results.

Each problem is one task of `ray_tasks.run_problem`, asking for one GPU (`num_gpus=1`), or one
CPU where the cluster has no GPU (the Triton interpreter path). Ray retries a task whose worker
process or node is lost (`max_retries`); a task whose job raised is not retried, as the job
already turned that into an error outcome. The driver claims a problem in the results file when
it submits its task, and keeps no more tasks in flight than the cluster has GPUs (or CPUs), asked
again as tasks finish so that nodes joining mid-run get work: a problem's claim is its start, as
in the local pool. Each outcome is recorded once, as `ray.wait` returns it, however often Ray ran
the task. A problem Ray could not finish stays unfinished for `--resume`, and the run says so.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import tarfile
import time
from dataclasses import dataclass, replace
from itertools import count
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from kernel_agent.evals.jobs import Finished
from kernel_agent.evals.ray_tasks import (
    API_KEY_ENV,
    JobSpec,
    ProblemTask,
    SourceFile,
    TaskOutcome,
    run_problem,
)
from kernel_agent.evals.runner import Progress, RunError, Silent
from kernel_agent.evals.store import Claim, ResultStore, process_token
from kernel_agent.evals.suites import problem_error

if TYPE_CHECKING:
    from kernel_agent.agent.models import ModelConfig
    from kernel_agent.evals.launch import EvalOptions

INSTALL = "pip install 'kernel-agent[ray]'"
MAX_RETRIES = 3  # per problem, for lost workers and nodes
CONNECT_S = 10.0  # to find that nothing listens at a cluster's address
WAIT_S = 1.0  # ray.wait's longest wait: Ctrl-C gets through, and capacity is asked again


def require_ray() -> ModuleType:
    """Ray, or a RunError that says how to install it."""
    try:
        import ray
    except ImportError as exc:
        raise RunError(f"--ray needs Ray, which is not installed here ({exc}); install it with "
                       f"{INSTALL} (on the cluster's nodes too)") from None
    return ray


def spec_of(options: EvalOptions, model: ModelConfig | None, cpu_slots: int) -> JobSpec:
    """The job the tasks run, from the run's options; the model's key is left out."""
    if options.candidates is not None:
        return JobSpec(options.timeout_s, cpu_slots)
    assert model is not None, "generate-and-evaluate needs a model"
    return JobSpec(options.timeout_s, cpu_slots, replace(model, api_key=None),
                   options.budget_minutes, options.branches, options.rounds, options.memory)


def connect(address: str) -> ModuleType:
    """Ray, connected to the cluster at `address` ("": ray.init's own choice, RAY_ADDRESS or a
    new local cluster) unless this process already is; connected for the process's life, as
    ray.init leaves it. A RunError says how to install Ray, or that no cluster answers (ray.init
    itself would retry for minutes)."""
    ray = require_ray()
    if ray.is_initialized():
        return ray
    target = address or os.environ.get("RAY_ADDRESS", "")
    if ":" in target and "://" not in target:
        host, _, port = target.rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=CONNECT_S).close()
        except (OSError, ValueError) as exc:
            raise RunError(f"no Ray cluster answers at {target}: {exc}") from None
    try:
        ray.init(address=address or None, log_to_driver=False)
    except ConnectionError as exc:
        raise RunError(f"cannot connect to the Ray cluster at {target or 'a new local one'}: "
                       f"{exc}") from None
    return ray


def run_on_ray(options: EvalOptions, model: ModelConfig | None, cpu_slots: int,
               progress: Progress | None = None) -> None:
    """Run the pending problems of `options.out` on the cluster `options.ray` names."""
    ray = connect(options.ray or "")
    env = {API_KEY_ENV: model.api_key} if model is not None and model.api_key else {}
    drain_on_ray(ray, options.out, spec_of(options, model, cpu_slots), progress or Silent(),
                 env)


@dataclass(frozen=True)
class InFlight:
    """A submitted problem: its claim, its name in the progress view, when it was sent."""

    claim: Claim
    label: str
    sent: float


def drain_on_ray(ray: ModuleType, run_dir: Path, spec: JobSpec, progress: Progress,
                 env: dict[str, str]) -> None:
    """Submit, collect and record problems until none is pending (or Ctrl-C)."""
    owner = process_token()
    assert owner is not None, "this process has no /proc entry"
    resource = "GPU" if ray.cluster_resources().get("GPU", 0) >= 1 else "CPU"
    task = ray.remote(run_problem).options(
        num_gpus=1 if resource == "GPU" else 0, num_cpus=1, max_retries=MAX_RETRIES,
        retry_exceptions=False, runtime_env={"env_vars": env} if env else None)
    store = ResultStore(run_dir)
    in_flight: dict[Any, InFlight] = {}
    lost: dict[str, str] = {}
    try:
        while True:
            while len(in_flight) < max(1, int(ray.cluster_resources().get(resource, 0))):
                label = next(f"ray{i}" for i in count()
                             if f"ray{i}" not in {f.label for f in in_flight.values()})
                claim = store.claim(owner, label)
                if claim is None:
                    break
                progress.problem_started(claim.id, label)
                reason = problem_error(claim.path)
                if reason:  # as in the local pool: a file nothing can use is never run
                    store.finish(claim.id, "bad_input", reason)
                    progress.problem_finished(claim.id, Finished("bad_input", reason), 0.0)
                    continue
                ref = task.remote(task_of(claim, store), spec)
                in_flight[ref] = InFlight(claim, label, time.monotonic())
            if not in_flight:
                break
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=WAIT_S)
            for ref in ready:
                sent = in_flight.pop(ref)
                try:
                    outcome: TaskOutcome = ray.get(ref)
                except ray.exceptions.RayError as exc:  # lost, retries spent: for --resume
                    lost[sent.claim.id] = f"{type(exc).__name__}: {last_line(exc)}"
                    continue
                record(store, run_dir, sent.claim.id, outcome)
                progress.problem_finished(sent.claim.id, outcome.finished,
                                          time.monotonic() - sent.sent)
    finally:
        for ref in in_flight:
            ray.cancel(ref, force=True)
        store.release_owner(owner)  # in flight or lost: pending again, for --resume
        store.close()
        progress.stop()
    if lost:
        first = next(iter(lost.items()))
        raise RunError(f"{len(lost)} problem(s) did not finish on the Ray cluster (a lost "
                       f"worker is retried {MAX_RETRIES} times) and are left for --resume: "
                       f"{', '.join(lost)} (first: {first[0]}: {first[1]})")


def last_line(exc: BaseException) -> str:
    """The line that says what went wrong (a task's error ends with its exception)."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def task_of(claim: Claim, store: ResultStore) -> ProblemTask:
    """The claim as plain data: file bytes travel, so no node needs the driver's files."""
    return ProblemTask(claim.id, source(claim.path),
                       source(claim.candidate) if claim.candidate else None,
                       claim.started_at, claim.runs, store.usage(claim.id), claim.note)


def source(path: Path) -> SourceFile:
    try:
        return SourceFile(str(path), path.read_bytes())
    except OSError:
        return SourceFile(str(path), None)


def record(store: ResultStore, run_dir: Path, problem: str, outcome: TaskOutcome) -> None:
    """Write one problem's outcome, and keep its search (generate mode) with the run."""
    if outcome.search is not None:
        from kernel_agent.evals.generate import SEARCHES

        unpack(outcome.search, run_dir / SEARCHES)
    finished = outcome.finished
    store.finish(problem, finished.outcome, finished.message, finished.attempts,
                 finished.usage, worker=outcome.worker)


def unpack(archive: bytes, into: Path) -> None:
    """Replace the searches the archive holds (a local session's leftovers included)."""
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        for top in {Path(m.name).parts[0] for m in tar.getmembers() if Path(m.name).parts}:
            shutil.rmtree(into / top, ignore_errors=True)
        tar.extractall(into, filter="data")
