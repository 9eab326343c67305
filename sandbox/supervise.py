"""Run a task in a child process and report how it ended, as JSON-friendly data.

The supervisor is never the task: a task that crashes, forks or signals itself does so in a child,
and the supervisor lives on to write down the wait status. As the init of a PID namespace (or a
container) it also reaps every orphan the task leaves behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable
from typing import Any


def describe(status: int) -> dict[str, Any]:
    """A wait status as {"exit": code} or {"signal": number}."""
    if os.WIFSIGNALED(status):
        return {"signal": os.WTERMSIG(status)}
    return {"exit": os.waitstatus_to_exitcode(status)}


def run_child(body: Callable[[], None]) -> int:
    """Fork, run `body` in the child (which never returns), and return the child's pid."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            body()
            code = 0
        except BaseException:  # a broken task still ends the child, never the supervisor
            code = 1
        finally:
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os._exit(code)
    return pid


def supervise(body: Callable[[], None]) -> dict[str, Any]:
    """Run `body` in a child; reap whatever is handed to us until that child ends."""
    pid = run_child(body)
    while True:
        try:
            reaped, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return {"setup_error": "the task process vanished before it could be reaped"}
        except InterruptedError:
            continue
        if reaped == pid:
            return describe(status)


def children_of(parent: int) -> list[int]:
    """Pids whose parent is `parent`, read from /proc (works in any PID namespace)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[1]) == parent:
            found.append(int(entry))
    return found


def kill_children(rounds: int = 100) -> int:
    """SIGKILL and reap our children until none are left; returns how many were killed.

    Used by a child subreaper: orphans of the task are re-parented here, so repeating until the
    list is empty catches processes that escaped their process group with setsid().
    """
    killed = 0
    me = os.getpid()
    for _ in range(rounds):
        pids = children_of(me)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
        for pid in pids:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
    return killed
