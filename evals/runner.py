"""Running a suite: create or resume the run, spread problems over workers, report progress.

A worker is a thread with its own sandbox and its own SQLite connection: one per GPU (its
sandbox pinned to that GPU, so timings never share a device), or a few on a CPU. A GPU may be
given more than once, for several workers on it: timings then share the device, which is only
meant for rehearsing a multi-GPU run on one GPU. Workers claim
problems from the results file until none is pending, so a resumed run, or a second process on
the same run directory, just takes what is left. On Ctrl-C the sandboxes are closed and the
problems in flight are handed back, to be run again on --resume.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from kernel_agent.evals.jobs import Finished, Job, Worker
from kernel_agent.evals.store import ResultStore, process_token
from kernel_agent.evals.suites import SuiteProblem, problem_error
from kernel_agent.sandbox import Limits, Sandbox, get_sandbox

JOIN_POLL_S = 0.2
STOP_GRACE_S = 10.0
WARM_UP_TASK = "kernel_agent.sandbox.probe:started"  # the sandbox's own trivial self-check
WARM_UP_S = 300.0


class RunError(Exception):
    """The run directory cannot be used as asked (exists without --resume, settings differ)."""


class Progress(Protocol):
    """Told about the run as it goes; the CLI shows it with Rich."""

    def start(self, total: int, done: int, passed: int, recovered: list[str]) -> None: ...

    def problem_started(self, problem: str, worker: str) -> None: ...

    def problem_finished(self, problem: str, finished: Finished, seconds: float) -> None: ...

    def stop(self) -> None: ...


class Silent:
    """Progress for callers that want none."""

    def start(self, total: int, done: int, passed: int, recovered: list[str]) -> None:
        pass

    def problem_started(self, problem: str, worker: str) -> None:
        pass

    def problem_finished(self, problem: str, finished: Finished, seconds: float) -> None:
        pass

    def stop(self) -> None:
        pass


@dataclass(frozen=True)
class Opened:
    """A run ready to work on: how many problems it has, and those handed back on resume."""

    total: int
    done: int
    passed: int
    recovered: list[str]


def open_run(run_dir: Path, meta: dict[str, Any], problems: list[SuiteProblem],
             candidates: dict[str, Path], resume: bool,
             notes: dict[str, str] | None = None) -> Opened:
    """Create the run's results file, or check that a resumed run has the same settings."""
    store = ResultStore(run_dir)
    try:
        existing = store.meta()
        if existing and not resume:
            raise RunError(f"{run_dir} already holds an eval run; pass --resume to continue "
                           "it, or choose another --out")
        if not existing and resume:
            raise RunError(f"nothing to resume in {run_dir}: it holds no eval run")
        if existing:
            differ = sorted(k for k in {*existing["settings"], *meta["settings"]}
                            if existing["settings"].get(k) != meta["settings"].get(k))
            if differ:
                raise RunError(f"--resume must repeat the run's settings; these differ from the "
                               f"recorded run: {', '.join(differ)}")
        else:
            store.create(meta, problems, candidates, notes)
        recovered = store.recover()
        counts = store.counts()
    finally:
        store.close()
    total = sum(v for k, v in counts.items() if k != "passed")
    return Opened(total, counts.get("done", 0), counts["passed"], recovered)


def make_sandboxes(gpus: list[int], cpu_workers: int,
                   cpu_slots: int) -> list[tuple[str, Sandbox]]:
    """A sandbox per entry of `gpus` (one verification at a time on it; a GPU listed k times
    gets k of them), or `cpu_workers` CPU sandboxes with `cpu_slots` concurrent verifications
    each. Names are unique, as the results file and the progress view tell workers apart by
    name: gpu0, or gpu0.0, gpu0.1, ... for a GPU listed more than once."""
    if gpus:
        return [(worker_name(gpus, i), get_sandbox("local", gpus=[g], workers_per_gpu=1))
                for i, g in enumerate(gpus)]
    return [(f"cpu{i}", get_sandbox("local", gpus=[], cpu_workers=cpu_slots))
            for i in range(cpu_workers)]


def worker_name(gpus: list[int], position: int) -> str:
    gpu = gpus[position]
    if gpus.count(gpu) == 1:
        return f"gpu{gpu}"
    return f"gpu{gpu}.{gpus[:position].count(gpu)}"


def run_workers(run_dir: Path, job: Job, sandboxes: list[tuple[str, Sandbox]],
                progress: Progress | None = None) -> None:
    """Work through the pending problems of the run until none is left (or Ctrl-C)."""
    progress = progress or Silent()
    owner = process_token()
    assert owner is not None, "this process has no /proc entry"
    stop = threading.Event()
    errors: list[BaseException] = []

    def work(name: str, sandbox: Sandbox) -> None:
        store = ResultStore(run_dir)
        try:
            # start the worker first, so start-up is never counted as a problem's time
            sandbox.run(WARM_UP_TASK, {}, Limits(wall_s=WARM_UP_S))
            drain(Worker(name, sandbox, store), job, owner, stop, progress)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            stop.set()
        finally:
            store.close()

    threads = [threading.Thread(target=work, args=item, name=f"eval-{item[0]}", daemon=True)
               for item in sandboxes]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(JOIN_POLL_S)  # a short wait lets Ctrl-C through
    finally:
        stop.set()
        for _, sandbox in sandboxes:
            sandbox.close()  # ends verifications in flight at once
        for thread in threads:
            thread.join(STOP_GRACE_S)  # a search between verifications is left to exit with us
        progress.stop()
        release_owned(run_dir, owner)
    if errors:
        raise errors[0]


def drain(worker: Worker, job: Job, owner: str, stop: threading.Event,
          progress: Progress) -> None:
    """Claim, run and record problems until none is pending or the run is stopped; a problem
    file that cannot be used is recorded as a bad input with its reason, never run."""
    while not stop.is_set():
        claim = worker.store.claim(owner, worker.name)
        if claim is None:
            return
        progress.problem_started(claim.id, worker.name)
        started = time.monotonic()
        reason = problem_error(claim.path)  # a file the suite holds but nothing can use
        try:
            finished = Finished("bad_input", reason) if reason else job(claim, worker)
        except Exception as exc:
            finished = Finished("error", f"{type(exc).__name__}: {exc}")
        if stop.is_set():  # the sandbox was closed under the job: its verdict means nothing
            worker.store.release(claim.id)
            return
        worker.store.finish(claim.id, finished.outcome, finished.message, finished.attempts,
                            finished.usage)
        progress.problem_finished(claim.id, finished, time.monotonic() - started)


def release_owned(run_dir: Path, owner: str) -> None:
    store = ResultStore(run_dir)
    try:
        store.release_owner(owner)
    finally:
        store.close()
