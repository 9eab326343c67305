"""Helpers of the sandbox conformance suite: the files, the bait, and what is left running."""

from __future__ import annotations

import os
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kernel_agent.sandbox import Limits, Sandbox, get_sandbox
from kernel_agent.tools.check import check_files
from kernel_agent.tools.verdict import Verdict

ROOT = Path(__file__).resolve().parent.parent.parent
DATA = ROOT / "tests" / "data"
PROBLEM = DATA / "scale_add_problem.py"
CORRECT = DATA / "scale_add_correct.py"
HOSTILE = DATA / "hostile"
FAKE_KEYS = {"OPENAI_API_KEY": "sk-kernel-agent-fake-openai",
             "NVIDIA_API_KEY": "sk-kernel-agent-fake-nvidia",
             "AWS_SECRET_ACCESS_KEY": "sk-kernel-agent-fake-aws"}



def resident_sandbox() -> Iterator[Sandbox]:
    """A fresh one-worker sandbox whose task process stays between tasks (a fixture's body);
    the test is skipped where this machine allows no namespaces, which residency needs."""
    sandbox = get_sandbox("local", cpu_workers=1, resident=True)
    sandbox.run("kernel_agent.sandbox.probe:started", {}, Limits(wall_s=60))
    if not sandbox.pool.servers[0].info.get("namespaces"):
        sandbox.close()
        pytest.skip("a resident process needs namespaces, which this machine does not allow")
    yield sandbox
    sandbox.close()


class Listener:
    """A TCP server on 127.0.0.1 that counts the connections it accepts."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.accepted += 1
            connection.close()



def verify(sandbox: Sandbox, candidate: Path | str, limits: Limits | None = None) -> Verdict:
    """The whole path: read the files, run the verifier task in `sandbox`, build the verdict."""
    path = candidate if isinstance(candidate, Path) else HOSTILE / candidate
    return check_files(PROBLEM, path, sandbox=sandbox, limits=limits or Limits(wall_s=60),
                       trials=1, timing=False)


ENDED = ("Z", "X")  # /proc states of a process that has ended: zombie, dead


def descendants(pid: int) -> set[int]:
    """Every live process below `pid` (no zombie: one that has ended and waits to be reaped),
    from /proc."""
    children: dict[int, list[int]] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        fields = stat_fields(int(entry))
        if fields and fields[0] not in ENDED:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def live(pid: int) -> bool:
    """Whether `pid` runs: it exists and is no zombie."""
    fields = stat_fields(pid)
    return bool(fields) and fields[0] not in ENDED


def stat_fields(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command's name (state, parent, ...), or none."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return []
    return stat[stat.rfind(")") + 2:].split()


def processes_running(command_part: bytes) -> list[int]:
    """Pids anywhere on this machine whose command line contains `command_part`."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if command_part in f.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


def task_dirs() -> set[str]:
    return {p for p in os.listdir(tempfile.gettempdir()) if p.startswith("kernel-agent-task-")}


def strays(sandbox: Sandbox) -> list[str]:
    """What a sandbox still runs beyond its idle workers: any task process, any extra container.

    An idle local sandbox has fork servers with no children but a resident task process waiting
    for its next job, if it keeps one; an idle docker sandbox has at most its standby containers
    (a removed container's processes are gone with it).
    """
    if sandbox.name == "local":
        servers = [s.process.pid for s in sandbox.pool.servers if s.process is not None]
        # The servers' trees first, then the kept processes' own: a spare candidate process
        # forked in between is theirs; one that ends in between (the last candidate's, whose
        # end the zygote waits out after the answer) is no stray.
        under = {s: descendants(s) for s in servers}
        kept = {s.kept for s in sandbox.pool.servers if s.kept is not None}
        idle = kept | {p for k in kept for p in descendants(k)}
        found = [f"pid {p} under fork server {s}" for s in servers for p in under[s]
                 if p not in idle and live(p)]
        others = descendants(os.getpid()) - set(servers) - {p for s in servers for p in under[s]}
        return found + [f"pid {p} under this test process" for p in others]
    from kernel_agent.sandbox.docker import LABEL

    spares = sandbox.spares  # type: ignore[attr-defined]
    for thread in list(spares.fillers):
        thread.join()
    spare_ids = {s.container.id for ready in spares.ready.values() for s in ready}
    client = sandbox.client  # type: ignore[attr-defined]
    mine = f"{LABEL}={sandbox.owner}"  # type: ignore[attr-defined]
    return [f"container {c.short_id}" for c in client.containers.list(
        all=True, filters={"label": mine}) if c.id not in spare_ids]
