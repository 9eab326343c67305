"""The fork server: imports torch once, then forks one isolated task per request.

Started by the host as `python -m kernel_agent.sandbox.forkserver CONFIG_JSON` with a scrubbed
environment (and CUDA_VISIBLE_DEVICES for its GPU). It never initialises CUDA, so every forked
task creates a fresh CUDA context of its own, and a task's CUDA fault dies with the task. It never
reads a task's payload or answer either (the launcher reads and writes those files itself), so a
later task forked from it cannot find an earlier one's source in its memory.

Protocol, one JSON object per line: the host sends {"op": "run", ...Job fields}; the server
answers {"event": "started", "pid": launcher pid} at once and {"event": "exited", ...} when the
task's launcher has ended and every stray process is gone. EOF on stdin ends the server.
"""

from __future__ import annotations

import importlib
import json
import os
import select
import shutil
import signal
import sys
from typing import Any

from kernel_agent.sandbox import linux
from kernel_agent.sandbox.cgroups import TaskGroup, TaskGroups
from kernel_agent.sandbox.isolation import Isolation, probe
from kernel_agent.sandbox.launch import Job, launch
from kernel_agent.sandbox.supervise import describe, kill_children
from kernel_agent.sandbox.worker import write_all


def vmstat_oom_kills() -> int:
    """The kernel's count of OOM kills since boot: evidence when there is no cgroup to ask."""
    try:
        with open("/proc/vmstat") as f:
            for line in f:
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Server:
    def __init__(self, config: dict[str, Any]) -> None:
        self.channel_in = os.dup(0)
        self.pending = b""
        self.channel_out = os.dup(1)
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(2, 1)  # anything printed by imported modules must not reach the channel
        os.close(devnull)
        self.notes = []
        for module in config.get("preload", []):
            try:
                importlib.import_module(module)
            except Exception as exc:
                self.notes.append(f"could not preload {module} ({type(exc).__name__}: {exc})")
        if config.get("namespaces", True):
            self.isolation = probe()
        else:
            self.isolation = Isolation(namespace_error="turned off")
        self.groups: TaskGroups | None = None
        if not config.get("cgroups", True):
            self.isolation.cgroup_error = "turned off"
        elif self.isolation.root:
            self.groups, self.isolation.cgroup_error = TaskGroups.open()
        else:
            self.isolation.cgroup_error = "not root"
        self.isolation.cgroups = self.groups.version if self.groups else 0
        self.notes += self.isolation.notes()
        self.count = 0

    def send(self, message: dict[str, Any]) -> None:
        write_all(self.channel_out, (json.dumps(message) + "\n").encode())

    def serve(self) -> None:
        self.send({"event": "ready", "pid": os.getpid(), "notes": self.notes,
                   "namespaces": self.isolation.namespaces, "cgroups": self.isolation.cgroups})
        while (line := self.read_line()) is not None:
            self.run(Job.from_message(json.loads(line)))

    def read_line(self) -> bytes | None:
        """The next request line, or None at EOF (the host has gone)."""
        while b"\n" not in self.pending:
            chunk = os.read(self.channel_in, 1 << 16)
            if not chunk:
                return None
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        return line

    def run(self, job: Job) -> None:
        self.count += 1
        group: TaskGroup | None = None
        notes = []
        if self.groups is not None:
            try:
                group = self.groups.create(f"{os.getpid()}-{self.count}", job.memory_bytes,
                                           job.max_processes)
            except OSError as exc:
                notes.append(f"no cgroup for this task ({exc}); rlimits only")
        oom_before = vmstat_oom_kills()
        pid = os.fork()
        if pid == 0:
            launch(job, self.isolation, group)
        self.send({"event": "started", "pid": pid})
        status = self.wait(pid)
        if status is None:  # the host has gone: clean up what it no longer can, and leave
            os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            kill_children()
            if group is not None:
                group.remove()
            shutil.rmtree(job.dir, ignore_errors=True)
            sys.exit(0)
        strays = kill_children()
        if group is not None:
            oom_kills = group.oom_kills()
            strays += len(group.procs())
            group.remove()
        else:
            oom_kills = vmstat_oom_kills() - oom_before
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) != signal.SIGKILL:
            notes.append(f"the task's launcher died with {describe(status)}")
        self.send({"event": "exited", "oom_kills": oom_kills, "strays": strays, "notes": notes})


    def wait(self, pid: int) -> int | None:
        """The launcher's wait status, or None if the host goes away meanwhile.

        PR_SET_PDEATHSIG cannot tie us to the host, since it fires when the host *thread* that
        started us ends; EOF on the request pipe is the reliable sign that the host is gone.
        """
        pidfd = os.pidfd_open(pid)
        try:
            while True:
                ready, _, _ = select.select([pidfd, self.channel_in], [], [])
                if pidfd in ready:
                    return os.waitpid(pid, 0)[1]
                if not os.read(self.channel_in, 1 << 16):
                    return None
        finally:
            os.close(pidfd)


def main(argv: list[str]) -> int:
    linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
    Server(json.loads(argv[0]) if argv else {}).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
