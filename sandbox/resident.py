"""A resident task process: after answering, it stays to answer its server's next job.

A fresh process per task pays for a CUDA context, Triton's driver module and the problem's
reference work every time; a search verifies dozens of candidates of one problem on one GPU. So a
server started with `resident` keeps its task process between jobs (for verification, that is the
judge, which never runs a candidate's code: tools/judge.py), but only while the process is fit
for the next job: the task module's own `settle()` finds nothing against it (it returns why not,
or ""), no thread or child process the task started is alive but those the module says it keeps
(`kept_children()`: the judge's zygote), and the private temporary directories are emptied
(compile caches excepted, see KEPT). Anything else ends the process, as a task process ends
today, and the server starts a fresh one for the next job, telling it why (PROCESS).

Channel: a SOCK_SEQPACKET socket to the fork server. The process sends {"answered": true} as soon
as an answer is written (the host can read it while the process settles), then {"fit": bool,
"why": why not}; the server sends each next job as three file descriptors (request to read,
answer and log to write), opened in the job's own host directory, so the process never names a
host path.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import socket
import threading
from dataclasses import dataclass
from typing import Any

from kernel_agent.sandbox.isolation import PRIVATE_TMP, WORKDIR
from kernel_agent.sandbox.supervise import children_of
from kernel_agent.sandbox.worker import answer

MARK = "KERNEL_AGENT_SANDBOX_RESIDENT"  # set in a resident process, for tasks that keep state
KEPT = (os.path.join(WORKDIR, ".triton"),)  # compile caches, keyed by the candidate's source


@dataclass
class TaskProcess:
    """This process's job count, and why the server started it rather than reusing the one
    before (set by the fork server before it forks): a task reports it, so that a verdict tells
    whether it paid for a fresh process and why."""

    job: int = 0
    fresh_because: str = "the worker's first task"


PROCESS = TaskProcess()


def serve(request: dict[str, Any], result_fd: int, channel: int) -> None:
    """Answer `request`, then every job the server sends, while the process stays fit."""
    owner = os.getpid()
    link = socket.socket(fileno=channel)
    os.environ[MARK] = "1"
    while True:
        PROCESS.job += 1
        threads = set(threading.enumerate())
        answer(request, result_fd)
        if os.getpid() != owner:  # a fork made by the task unwound into here
            return
        os.close(result_fd)
        link.send(json.dumps({"answered": True}).encode())
        why_not = settled(request["task"], threads)
        link.send(json.dumps({"fit": not why_not, "why": why_not}).encode())
        if why_not:
            return
        job = receive(link)
        if job is None:
            return
        request, result_fd = job


def receive(link: socket.socket) -> tuple[dict[str, Any], int] | None:
    """The next job's request and answer descriptor, with the log on stdout and stderr."""
    message, fds, _, _ = socket.recv_fds(link, 64, 3)
    if not message or len(fds) != 3:
        for fd in fds:
            os.close(fd)
        return None
    request_fd, result_fd, log_fd = fds
    with os.fdopen(request_fd, "rb") as f:
        request = json.loads(f.read())
    for fd in (1, 2):
        os.dup2(log_fd, fd)
    os.close(log_fd)
    return request, result_fd


def settled(task: str, threads_before: set[threading.Thread]) -> str:
    """Why this process may not take another job after running `task`; "" if it may."""
    if new := set(threading.enumerate()) - threads_before:
        return f"threads left running: {', '.join(sorted(t.name for t in new))[:200]}"
    module = importlib.import_module(task.partition(":")[0])
    kept = getattr(module, "kept_children", set)()
    if set(children_of(os.getpid())) - kept:
        return "child processes left running"
    settle = getattr(module, "settle", None)
    if settle is None:
        return f"the task {task} keeps nothing between jobs (no settle())"
    try:
        why_not = settle()
    except Exception as exc:
        return f"settle() raised {type(exc).__name__}: {exc}"[:300]
    if why_not:
        return str(why_not)[:300]
    return "" if tidy() else "private temporary files could not be removed"


def tidy() -> bool:
    """Empty the private temporary directories but for the compile caches and the code mounted
    into them; False if it cannot."""
    os.chdir(WORKDIR)
    tops = [top for top in (*PRIVATE_TMP, WORKDIR) if os.path.isdir(top)]
    mounts = mount_points()
    return all(empty(top, keep=(WORKDIR, *KEPT, *holding(top, mounts))) for top in tops)


def mount_points() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4].encode().decode("unicode_escape") for line in f]


def holding(top: str, mounts: list[str]) -> list[str]:
    """The entries of `top` that are or hold a mount point: the interpreter or this project kept
    visible, read-only, inside a private tmp (sandbox/isolation.py, code_under), such as a
    checkout under /tmp or a PYTHONPATH folder there. They are not the task's files, and the
    task cannot mount anything itself."""
    prefix = top.rstrip("/") + "/"
    return [prefix + point[len(prefix):].split("/")[0] for point in mounts
            if point.startswith(prefix)]


def empty(folder: str, keep: tuple[str, ...] = ()) -> bool:
    """Remove every entry of `folder` but the paths in `keep`; False if one cannot be removed."""
    try:
        for entry in os.scandir(folder):
            if entry.path in keep:
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)
    except OSError:
        return False
    return True
