"""The local backend: tasks forked from warm fork servers, isolated with what this machine allows.

Each task gets a private task directory on the host (request, answer, status and output; removed
afterwards), runs in a forked child of a fork server that has already imported torch, and is
killed with everything it started when the wall-clock limit passes. See isolation.py for the walls
and pool.py for who keeps time.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

from kernel_agent.sandbox.environment import scrubbed_env
from kernel_agent.sandbox.gpus import discover_gpus
from kernel_agent.sandbox.launch import LOG, REQUEST, RESULT, STATUS
from kernel_agent.sandbox.outcome import OUTPUT_TAIL_CHARS, task_result
from kernel_agent.sandbox.pool import Pool, ServerLost
from kernel_agent.sandbox.protocol import Failure, Limits, TaskResult

DEFAULT_MAX_PROCESSES = 4096
DEFAULT_FILE_MB = 512
TASK_DIR_PREFIX = "kernel-agent-task-"


def physical_memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


class LocalSandbox:
    """Fork-server pool on this machine: `workers_per_gpu` per GPU, or `cpu_workers` without.

    `preload` names the modules each server imports once (never anything that touches CUDA);
    by default torch, and triton too on a GPU. Not triton without one: there the verifier turns on
    Triton's interpreter, and that choice is fixed when triton is first imported.
    `namespaces` and `cgroups` can be turned off where they get in the way; the notes say so.
    `resident` keeps a task process between tasks while it stays fit (sandbox/resident.py), so a
    verifier keeps its CUDA context and a problem's state across candidates; None: on for GPU
    workers, off for CPU ones; it needs namespaces, without which every task gets a new process.
    """

    name = "local"

    def __init__(self, *, workers_per_gpu: int = 1, cpu_workers: int = 1,
                 gpus: list[int] | None = None, preload: tuple[str, ...] | None = None,
                 namespaces: bool = True, cgroups: bool = True, python: str = sys.executable,
                 env: dict[str, str] | None = None, file_mb: int = DEFAULT_FILE_MB,
                 resident: bool | None = None) -> None:
        self.gpus = discover_gpus() if gpus is None else gpus
        self.file_bytes = file_mb << 20
        config = {"preload": preload, "namespaces": namespaces, "cgroups": cgroups,
                  "resident": resident}
        self.pool = Pool(self.gpus, workers_per_gpu, cpu_workers, config,
                         scrubbed_env(extra=env), python)

    def run(self, task: str, payload: dict[str, Any], limits: Limits | None = None) -> TaskResult:
        limits = limits or Limits()
        memory = (limits.memory_mb << 20) if limits.memory_mb else physical_memory_bytes() // 2
        task_dir = Path(tempfile.mkdtemp(prefix=TASK_DIR_PREFIX))
        try:
            write_private(task_dir / REQUEST, json.dumps({"task": task, "payload": payload}))
            try:
                with self.pool.checkout(limits.gpu_ids) as server:
                    job = {"dir": str(task_dir), "memory_bytes": memory,
                           "max_processes": limits.max_processes or DEFAULT_MAX_PROCESSES,
                           "file_bytes": self.file_bytes, "tmp_bytes": memory,
                           "gpu": server.gpu is not None}
                    notes = list(server.info.get("notes", []))
                    exit_ = server.run(job, limits.wall_s)
            except (ServerLost, LookupError) as exc:
                return TaskResult(failure=Failure("sandbox_error", str(exc)),
                                  output_tail=read_tail(task_dir / LOG))
            status = read_json(task_dir / STATUS)
            if status and status.get("writable"):
                notes.append(f"these mounts could not be made read-only: {status['writable']}")
            if exit_.strays:
                notes.append(f"{exit_.strays} process(es) the task left behind were killed")
            return task_result(
                answer=read_json(task_dir / RESULT), status=status,
                timed_out=exit_.timed_out, wall_s=limits.wall_s,
                oom_killed=exit_.oom_kills > 0, memory_bytes=memory,
                output=read_tail(task_dir / LOG), elapsed_s=exit_.elapsed_s,
                notes=notes + exit_.notes)
        finally:
            remove_tree(task_dir)

    def start(self) -> None:
        """Start the servers now rather than at the first task (see start_one_shot_early)."""
        self.pool.start()

    def close(self) -> None:
        self.pool.close()


def write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # absent, or cut short by a kill


def read_tail(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - 4 * OUTPUT_TAIL_CHARS))
            return f.read().decode(errors="replace")[-OUTPUT_TAIL_CHARS:]
    except OSError:
        return ""


def remove_tree(path: Path) -> None:
    """Remove a task directory even where the task made parts of it unwritable.

    Permissions are only ever changed inside `path`, never on the directory that holds it.
    """
    root = os.path.abspath(path)

    def inside(name: str) -> bool:
        return name == root or name.startswith(root + os.sep)

    def unlock(function: Any, name: str, error: Any) -> None:
        if isinstance(error[1], FileNotFoundError):
            return
        for target in (os.path.dirname(name), name):
            if inside(target) and os.path.isdir(target) and not os.path.islink(target):
                os.chmod(target, stat.S_IRWXU)
        function(name)

    shutil.rmtree(root, onerror=unlock)
