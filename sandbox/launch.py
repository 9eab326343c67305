"""What a child forked by the fork server does to become one isolated task.

Process tree of one task (namespaces available):
  fork server -> launcher (new session, cgroup, files opened, unshare)
              -> init of the new PID namespace (mounts; supervises; its death ends every process
                 left in the namespace) -> the task (rlimits, no capabilities, scrubbed env).
Without namespaces the launcher supervises the task itself as a child subreaper and kills what
the task leaves behind. Either way the status file records how the task ended; the task writes
its answer to the result file and its output to the log, all in the host's task directory, opened
before any namespace is entered. A resident task (sandbox/resident.py) gets a channel to the
server as well: how it ended goes there as {"status": ...}, since by then the server is on a
later job whose directory the launcher never opened.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from kernel_agent.sandbox import linux
from kernel_agent.sandbox.cgroups import TaskGroup
from kernel_agent.sandbox.environment import task_env
from kernel_agent.sandbox.isolation import (
    WORKDIR,
    Isolation,
    enter_namespaces,
    limit_resources,
    lower_privileges,
    private_mounts,
    tasks_of,
)
from kernel_agent.sandbox.resident import serve
from kernel_agent.sandbox.supervise import kill_children, supervise
from kernel_agent.sandbox.worker import answer, write_all

REQUEST, RESULT, STATUS, LOG = "request.json", "result.json", "status.json", "output.log"


@dataclass(frozen=True)
class Job:
    """One task as the fork server received it from the host."""

    dir: str
    memory_bytes: int | None
    max_processes: int | None
    file_bytes: int
    tmp_bytes: int
    gpu: bool

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> Job:
        return cls(**{k: message[k] for k in cls.__dataclass_fields__})


def launch(job: Job, isolation: Isolation, group: TaskGroup | None,
           channel: int | None = None) -> NoReturn:
    """Body of the launcher process; never returns. `channel`: the resident task's socket."""
    status_fd, code = -1, 0
    try:
        os.setsid()
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        if group is not None:
            group.join()
        task_dir = Path(job.dir)
        request = json.loads((task_dir / REQUEST).read_text())
        status_fd, result_fd, log_fd = (create(task_dir / name) for name in (STATUS, RESULT, LOG))
        kept = {status_fd, result_fd, log_fd}
        if channel is not None:
            kept.add(channel)
        detach_from_server(keep=kept)
        nproc = None
        if group is None and job.max_processes is not None and os.geteuid() != 0:
            nproc = tasks_of(os.getuid()) + job.max_processes
        if isolation.namespaces:
            enter_namespaces(isolation.namespaces)
            if os.fork():
                os.wait()
                os._exit(0)
            linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
            # As init of the namespace we get only the signals we handle: handle none.
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            writable = private_mounts(job.tmp_bytes)
            workdir = WORKDIR
        else:
            linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
            workdir = str(task_dir / "work")
            os.mkdir(workdir, 0o700)
            writable = []

        def task() -> None:
            linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
            os.close(status_fd)
            os.chdir(workdir)
            env = task_env(os.environ, workdir)
            os.environ.clear()
            os.environ.update(env)
            limit_resources(file_bytes=job.file_bytes,
                            memory_bytes=None if group else job.memory_bytes,
                            gpu=job.gpu, nproc=nproc)
            lower_privileges(has_capabilities=isolation.root or bool(isolation.namespaces))
            for fd in (1, 2):
                os.dup2(log_fd, fd)
            os.close(log_fd)
            if channel is None:
                answer(request, result_fd)
            else:
                serve(request, result_fd, channel)

        status = supervise(task)
        if not isolation.namespaces:
            kill_children()
        if writable:
            status["writable"] = writable
        write_all(status_fd, json.dumps(status).encode())
        if channel is not None:
            write_all(channel, json.dumps({"status": status}).encode())
    except BaseException as exc:  # report set-up failures; the host turns them into sandbox_error
        code = 1
        if status_fd >= 0:
            write_all(status_fd, json.dumps({"setup_error": repr(exc)[:2000]}).encode())
    os._exit(code)


def create(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)


def detach_from_server(keep: set[int]) -> None:
    """Stdin and stdout are the server's pipes to the host: a task must not read or forge them."""
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    for fd in map(int, os.listdir("/proc/self/fd")):
        if fd > 2 and fd not in keep:
            with contextlib.suppress(OSError):
                os.close(fd)
