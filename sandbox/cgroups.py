"""Per-task control groups for memory and process limits, on cgroup v2 or v1, when writable.

A memory cgroup counts only pages really in use, so CUDA's huge virtual reservations cost nothing
against it (unlike RLIMIT_AS); its OOM killer ends the task with SIGKILL and leaves a count we
can read. A pids cgroup stops a fork bomb even when the task runs as root, for whom the kernel
ignores RLIMIT_NPROC. Needs write access to the cgroup tree (root on a host, not in most
containers); otherwise `TaskGroups.open` says why and the caller falls back to rlimits.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PARENT = "kernel-agent"


class TaskGroups:
    """Where this process makes its task cgroups: one directory per controller hierarchy."""

    def __init__(self, version: int, memory: Path, pids: Path) -> None:
        self.version, self.memory, self.pids = version, memory, pids

    @classmethod
    def open(cls) -> tuple[TaskGroups | None, str]:
        """The writable hierarchy, or None and the reason there is none."""
        try:
            if (ROOT / "cgroup.controllers").exists():
                available = (ROOT / "cgroup.controllers").read_text().split()
                if not {"memory", "pids"} <= set(available):
                    return None, "cgroup v2 lacks the memory or pids controller"
                enable(ROOT, ("memory", "pids"))
                parent = ROOT / PARENT
                parent.mkdir(exist_ok=True)
                enable(parent, ("memory", "pids"))
                groups = cls(2, parent, parent)
            elif (ROOT / "memory").is_dir() and (ROOT / "pids").is_dir():
                memory, pids = ROOT / "memory" / PARENT, ROOT / "pids" / PARENT
                memory.mkdir(exist_ok=True)
                pids.mkdir(exist_ok=True)
                groups = cls(1, memory, pids)
            else:
                return None, "no cgroup memory and pids controllers are mounted"
        except OSError as exc:
            return None, f"cannot make cgroups ({exc.strerror or exc})"
        groups.remove_stale()
        problem = groups.trial()
        return (None, problem) if problem else (groups, "")

    def trial(self) -> str:
        """Put a throwaway child into a fresh group; "" when that works, else why not.

        Making a group can succeed where joining one fails (cgroup v2's rule against processes
        in inner groups, inside a container): only a real join tells.
        """
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(write)
            os.read(read, 1)
            os._exit(0)
        os.close(read)
        problem, group = "", None
        try:
            group = self.create(f"{os.getpid()}-trial", 64 << 20, 16)
            group.join(pid)
        except OSError as exc:
            problem = f"cannot use cgroups ({exc.strerror or exc})"
        os.close(write)
        os.waitpid(pid, 0)
        if group is not None:
            group.remove()
        return problem

    def create(self, name: str, memory_bytes: int | None, max_processes: int | None) -> TaskGroup:
        dirs = sorted({self.memory / name, self.pids / name})
        for directory in dirs:
            directory.mkdir()
        group = TaskGroup(self.version, self.memory / name, self.pids / name)
        group.limit(memory_bytes, max_processes)
        return group

    def remove_stale(self) -> None:
        """Remove empty groups left by fork servers that died without cleaning up."""
        for parent in {self.memory, self.pids}:
            for child in parent.iterdir():
                owner = child.name.partition("-")[0]
                if child.is_dir() and owner.isdigit() and not pid_alive(int(owner)):
                    with contextlib.suppress(OSError):
                        child.rmdir()


class TaskGroup:
    """The cgroup(s) of one task."""

    def __init__(self, version: int, memory: Path, pids: Path) -> None:
        self.version, self.memory, self.pids = version, memory, pids

    def limit(self, memory_bytes: int | None, max_processes: int | None) -> None:
        if memory_bytes is not None:
            if self.version == 2:
                write(self.memory / "memory.max", str(memory_bytes))
                write(self.memory / "memory.swap.max", "0", missing_ok=True)
            else:
                write(self.memory / "memory.limit_in_bytes", str(memory_bytes))
        if max_processes is not None:
            write(self.pids / "pids.max", str(max_processes))

    def join(self, pid: int = 0) -> None:
        """Move `pid` (0: the caller) into the group; its children are born inside."""
        for directory in sorted({self.memory, self.pids}):
            write(directory / "cgroup.procs", str(pid or os.getpid()))

    def oom_kills(self) -> int:
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            for line in (self.memory / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except OSError:
            pass
        return 0

    def procs(self) -> list[int]:
        pids: set[int] = set()
        for directory in {self.memory, self.pids}:
            with contextlib.suppress(OSError):
                pids.update(int(p) for p in (directory / "cgroup.procs").read_text().split())
        return sorted(pids)

    def kill_all(self, timeout_s: float = 5.0) -> None:
        """SIGKILL every process in the group until it is empty."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            pids = self.procs()
            if not pids:
                return
            if self.version == 2 and (self.pids / "cgroup.kill").exists():
                write(self.pids / "cgroup.kill", "1")
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)

    def remove(self) -> None:
        self.kill_all()
        for directory in sorted({self.memory, self.pids}):
            for _ in range(50):
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.01)  # the last processes are still being torn down


def enable(directory: Path, controllers: tuple[str, ...]) -> None:
    present = set((directory / "cgroup.subtree_control").read_text().split())
    missing = [c for c in controllers if c not in present]
    if missing:
        write(directory / "cgroup.subtree_control", " ".join(f"+{c}" for c in missing))


def write(path: Path, text: str, *, missing_ok: bool = False) -> None:
    try:
        with open(path, "w") as f:
            f.write(text)
    except FileNotFoundError:
        if not missing_ok:
            raise


def pid_alive(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}")
