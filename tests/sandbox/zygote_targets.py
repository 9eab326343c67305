"""Children for the zygote's tests, run by name as a candidate process would be."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import signal
import socket
import time

from kernel_agent.sandbox import channel


def report_descriptors(link_fd: int) -> None:
    link = socket.socket(fileno=link_fd)
    fds = {}
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor, closed by now
            fds[fd] = os.readlink(f"/proc/self/fd/{fd}")
    channel.send(link, {"pid": os.getpid(), "link": str(link_fd), "fds": fds})


def leave_grandchild(link_fd: int) -> None:
    link = socket.socket(fileno=link_fd)
    pid = os.fork()
    if pid == 0:
        os.setsid()
        time.sleep(600)
        os._exit(0)
    channel.send(link, {"grandchild": pid})
    time.sleep(600)


def segfault(link_fd: int) -> None:
    ctypes.string_at(0)


def signal_others(link_fd: int) -> None:
    """Try to signal the zygote, the parent and the process group; report what each raised."""
    link = socket.socket(fileno=link_fd)
    tried = {}
    for name, call in (("zygote", lambda: os.kill(os.getppid(), signal.SIGSTOP)),
                       ("group", lambda: os.kill(0, signal.SIGCONT)),
                       ("parent", lambda: os.kill(int(os.environ["JUDGE_PID"]), signal.SIGSTOP)),
                       ("self", lambda: os.kill(os.getpid(), 0))):
        try:
            call()
            tried[name] = "allowed"
        except OSError as exc:
            tried[name] = errno.errorcode[exc.errno]
    channel.send(link, tried)
