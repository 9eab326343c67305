"""Self-check tasks: what a task sees from inside a sandbox, and the misbehaviour every backend
must survive (a crash, a process left running). Used by `kernel-agent sandbox check`, the
conformance tests and the overhead benchmark. Standard library only, so they run in any image.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import socket
import time
from typing import Any


def started(payload: dict[str, Any]) -> dict[str, Any]:
    """When task code could begin, once the modules in payload["imports"] are imported (wall
    clock, comparable with the host's on one machine)."""
    for module in payload.get("imports", []):
        importlib.import_module(module)
    return {"time": time.time(), "pid": os.getpid()}


def report(payload: dict[str, Any]) -> dict[str, Any]:
    """Identity, privileges, environment, file system and network as the task finds them."""
    with open("/proc/self/status") as f:
        status = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    return {
        "uid": os.getuid(),
        "pid": os.getpid(),
        "cwd": os.getcwd(),
        "capabilities": status.get("CapEff", "").strip(),
        "no_new_privs": status.get("NoNewPrivs", "").strip() == "1",
        "env_names": sorted(os.environ),
        "visible_processes": sum(1 for p in os.listdir("/proc") if p.isdigit()),
        "root_writable": writable("/"),
        "cwd_writable": writable(os.getcwd()),
        "loopback": connect_error(payload.get("port", 9)),
    }


def writable(directory: str) -> bool:
    try:
        path = os.path.join(directory, f".kernel-agent-probe-{os.getpid()}")
        with open(path, "w"):
            pass
        os.unlink(path)
        return True
    except OSError:
        return False


def connect_error(port: int) -> str:
    """Why a TCP connection to 127.0.0.1:`port` failed, or "" when it succeeded."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return ""
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"


def crash(payload: dict[str, Any]) -> dict[str, Any]:
    """Dereference a null pointer: the task must end as `crashed` with SIGSEGV."""
    ctypes.string_at(0)
    return {}


LINGER_SECONDS = "4242"


def linger(payload: dict[str, Any]) -> dict[str, Any]:
    """Leave a detached `sleep 4242` behind, in a new session: the sandbox must still end it."""
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv("/bin/sleep", ["sleep", LINGER_SECONDS])
        os._exit(0)
    os.wait()
    return {"left": "sleep " + LINGER_SECONDS}


def spin(payload: dict[str, Any]) -> dict[str, Any]:
    """Never return: the sandbox must kill the task at its wall-clock limit."""
    while True:
        pass


def hog(payload: dict[str, Any]) -> dict[str, Any]:
    """Fill memory 64 MiB at a time: the task must end as `out_of_memory`."""
    hoard = []
    while True:
        block = bytearray(64 << 20)
        block[::4096] = b"\1" * (len(block) // 4096)  # touch every page, so it is really used
        hoard.append(block)
