"""The fork server: imports torch once, then forks one isolated task per request.

Started by the host as `python -m kernel_agent.sandbox.forkserver CONFIG_JSON` with a scrubbed
environment (and CUDA_VISIBLE_DEVICES for its GPU). It never initialises CUDA, so every forked
task creates a fresh CUDA context of its own, and a task's CUDA fault dies with the task. It never
reads a task's payload or answer either (the launcher reads and writes those files itself), so a
later task forked from it cannot find an earlier one's source in its memory.

Protocol, one JSON object per line: the host sends {"op": "run", ...Job fields}; the server
answers {"event": "started", "pid": launcher pid} at once and {"event": "exited", ...} when the
task's launcher has ended and every stray process is gone. EOF on stdin ends the server.

With "resident" in its config (and namespaces to wall the process in), the server keeps a task
process that declares itself fit (sandbox/resident.py) and hands it the next job instead of
forking a new one; "exited" then means the job is answered ("kept": true while the process
lives on), and the status file is written here.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import select
import shutil
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kernel_agent.sandbox import linux
from kernel_agent.sandbox.cgroups import TaskGroup, TaskGroups
from kernel_agent.sandbox.isolation import Isolation, probe
from kernel_agent.sandbox.launch import LOG, REQUEST, RESULT, STATUS, Job, create, launch
from kernel_agent.sandbox.resident import PROCESS as RESIDENT_PROCESS
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


@dataclass
class Resident:
    """The kept task process: its launcher's pid, the channel to it, its cgroup."""

    pid: int
    link: socket.socket
    group: TaskGroup | None
    settling: bool = False  # answered its last job, has not yet said whether it stays
    why_not: str = ""  # why it said it cannot stay, once it has


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
            if "torch" in sys.modules and sys.modules["torch"].cuda.is_initialized():
                sys.exit(f"fork server: preloading {module} initialised CUDA, so no task forked "
                         "from this server could use the GPU")
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
        self.keep_resident = bool(config.get("resident")) and bool(self.isolation.namespaces)
        self.resident: Resident | None = None

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
        if self.keep_resident:
            self.run_resident(job)
            return
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

    def run_resident(self, job: Job) -> None:
        """Hand `job` to the kept task process, or start one with it; wait until it answers."""
        resident = self.resident
        if resident is not None and not (self.settled(resident) and self.hand_over(resident, job)):
            RESIDENT_PROCESS.fresh_because = (resident.why_not or "the last task process ended "
                                               "before it could take another job")
            self.end_resident(resident)
            resident = None
        if resident is None:
            self.count += 1
            group = None
            if self.groups is not None:
                try:
                    group = self.groups.create(f"{os.getpid()}-{self.count}", job.memory_bytes,
                                               job.max_processes)
                except OSError:
                    group = None
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            pid = os.fork()
            if pid == 0:
                ours.close()
                launch(job, self.isolation, group, channel=theirs.fileno())
            theirs.close()
            resident = self.resident = Resident(pid, ours, group)
        oom_before = resident.group.oom_kills() if resident.group else vmstat_oom_kills()
        self.send({"event": "started", "pid": resident.pid})
        answered = self.await_answer(resident, Path(job.dir))
        oom_after = resident.group.oom_kills() if resident.group else vmstat_oom_kills()
        if not answered:
            RESIDENT_PROCESS.fresh_because = ("the last task did not answer (a crash, a kill or "
                                               "its time limit)")
            self.end_resident(resident)
        self.send({"event": "exited", "oom_kills": oom_after - oom_before, "strays": 0,
                   "notes": [], "kept": answered})

    def hand_over(self, resident: Resident, job: Job) -> bool:
        """Send the job's request, answer and log files; False if the process is gone."""
        directory = Path(job.dir)
        fds = [os.open(directory / REQUEST, os.O_RDONLY | os.O_CLOEXEC),
               create(directory / RESULT), create(directory / LOG)]
        try:
            socket.send_fds(resident.link, [b"job"], fds)
            return True
        except OSError:
            return False
        finally:
            for fd in fds:
                os.close(fd)

    def settled(self, resident: Resident) -> bool:
        """Whether the process, done settling after its last answer, stays for another job."""
        if resident.settling:
            resident.settling = False
            return self.next_message(resident, None) == "fit"
        return True

    def await_answer(self, resident: Resident, directory: Path) -> bool:
        """True once the process answered and lives on; False once it has ended."""
        answered = self.next_message(resident, directory) == "answered"
        resident.settling = answered
        return answered

    def next_message(self, resident: Resident, directory: Path | None) -> str:
        """Wait for "answered" or "fit" from the process (statuses go to `directory`'s status
        file on the way), or "ended" once it has, or a "fit": false said it will."""
        pidfd = os.pidfd_open(resident.pid)
        try:
            while True:
                ready, _, _ = select.select([pidfd, resident.link, self.channel_in], [], [])
                if resident.link in ready:
                    message = resident.link.recv(1 << 16)
                    reply = json.loads(message) if message else {}
                    if reply.get("answered") and directory is not None:
                        (directory / STATUS).write_text(json.dumps({"exit": 0}))
                        return "answered"
                    if reply.get("fit"):
                        return "fit"
                    if reply.get("why"):
                        resident.why_not = reply["why"]
                    if "status" in reply and directory is not None:
                        (directory / STATUS).write_text(json.dumps(reply["status"]))
                    if message:
                        continue
                if pidfd in ready or resident.link in ready:
                    os.waitpid(resident.pid, 0)
                    return "ended"
                if self.channel_in in ready and not os.read(self.channel_in, 1 << 16):
                    self.end_resident(resident)  # the host has gone
                    if directory is not None:
                        shutil.rmtree(directory, ignore_errors=True)
                    sys.exit(0)
        finally:
            os.close(pidfd)

    def end_resident(self, resident: Resident) -> None:
        """Kill what is left of the kept process and everything it started."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(resident.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(resident.pid, 0)
        kill_children()
        resident.link.close()
        if resident.group is not None:
            resident.group.remove()
        self.resident = None

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
