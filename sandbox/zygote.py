"""A zygote: a process forked before its parent touches the GPU, that forks fresh children for it.

The verifier's judge (tools/judge.py) keeps its CUDA context from task to task and never runs a
candidate's code; each candidate runs in a fresh process of its own, which must be able to use the
GPU, and a process forked after CUDA was initialised cannot. So the judge forks this zygote first,
before its first CUDA call, and asks it for every candidate process. The zygote runs nothing of
its own and is a child subreaper: whatever a candidate process starts ends up its child, and
`end` kills all of it and reports how the candidate process itself ended. A child can signal no
process but itself (a seccomp filter, linux.signal_only_self), so it cannot kill or stop the
zygote or the judge.

Requests over a socketpair (sandbox/channel.py frames):
  {"op": "spawn", "target": "pkg.module:function"} with [the child's socket, its stdout]
      -> {"pid": n}; the child runs target(socket fd) with that stdout as stdout and stderr and
         no other descriptor of the zygote or its parent;
  {"op": "end", "grace_s": s} -> {"status": {"exit": n} | {"signal": n}, "killed": true if it
      still ran after s seconds}.

`end_soon` sends an "end" and leaves its answer unread: the zygote kills the child at once and
waits out its teardown (a CUDA context's is slow) beside the parent's own work; the parent's
next request, or `ended`, reads the answer first.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any, NoReturn

from kernel_agent.sandbox import channel, linux
from kernel_agent.sandbox.supervise import describe, kill_children
from kernel_agent.sandbox.worker import resolve


class ZygoteLost(Exception):
    """The zygote is gone (killed, say), so no candidate process can be started."""


@dataclass
class Child:
    """A process the zygote forked, and the parent's end of its socket."""

    pid: int
    link: socket.socket


class Zygote:
    """The parent's handle on its zygote."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self.link: socket.socket | None = None
        self.unread = 0  # answers to end_soon's requests not read yet

    def start(self) -> None:
        """Fork the zygote, unless it runs already. Call before this process initialises CUDA."""
        if self.alive():
            return
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:
            ours.close()
            serve(theirs)
        theirs.close()
        self.pid, self.link = pid, ours

    def alive(self) -> bool:
        if self.pid is None:
            return False
        try:
            reaped, _ = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            reaped = self.pid
        if reaped:
            self.forget()
            return False
        return True

    def spawn(self, target: str, stdout: int = 1) -> Child:
        """A fresh child running `target`, with `stdout` for its output."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            reply = self.ask({"op": "spawn", "target": target}, [theirs.fileno(), stdout])
        finally:
            theirs.close()
        return Child(int(reply["pid"]), ours)

    def end(self, child: Child, grace_s: float = 0.0) -> dict[str, Any]:
        """Kill what is left of `child` and everything it started; how the child ended.
        `grace_s`: how long a child that is on its way out (it closed its socket) may take to
        end by itself before it is killed."""
        child.link.close()
        return self.ask({"op": "end", "grace_s": grace_s})

    def end_soon(self, child: Child) -> None:
        """Have `child` killed now, and it and everything it started reaped while this process
        goes on; `ended` (or any later request) waits until they are gone."""
        child.link.close()
        if self.link is None:
            return
        self.send({"op": "end", "grace_s": 0.0})
        self.unread += 1

    def ended(self) -> None:
        """Wait until every child that end_soon ended is gone, with all it started."""
        while self.unread:
            self.unread -= 1
            self.reply()

    def stop(self) -> None:
        """End the zygote and whatever it still holds."""
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
        self.forget()

    def ask(self, message: dict[str, Any], fds: list[int] | None = None) -> dict[str, Any]:
        self.ended()
        self.send(message, fds)
        return self.reply()

    def send(self, message: dict[str, Any], fds: list[int] | None = None) -> None:
        if self.link is None:
            raise ZygoteLost("the zygote was never started")
        try:
            channel.send(self.link, message, fds)
        except OSError as exc:
            self.stop()
            raise ZygoteLost(f"the zygote stopped answering ({exc})") from None

    def reply(self) -> dict[str, Any]:
        if self.link is None:
            raise ZygoteLost("the zygote was never started")
        try:
            got = channel.receive(self.link)
        except (OSError, channel.ChannelError) as exc:
            self.stop()
            raise ZygoteLost(f"the zygote stopped answering ({exc})") from None
        if got is None:
            self.stop()
            raise ZygoteLost("the zygote ended")
        channel.close_all(got[1])
        return got[0]

    def forget(self) -> None:
        if self.link is not None:
            self.link.close()
        self.pid, self.link, self.unread = None, None, 0


def serve(control: socket.socket) -> NoReturn:
    """The zygote's life: fork a child per "spawn", end it at "end", leave when the parent does."""
    code = 0
    try:
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.close(devnull)
        close_all_but(control.fileno())
        child: int | None = None
        while (got := channel.receive(control)) is not None:
            message, fds = got
            if message.get("op") == "spawn" and len(fds) == 2:
                child = fork_child(str(message["target"]), fds[0], fds[1], control)
                channel.close_all(fds)
                channel.send(control, {"pid": child})
            else:
                channel.close_all(fds)
                status, killed = end_child(child, float(message.get("grace_s", 0.0)))
                child = None
                channel.send(control, {"status": status, "killed": killed})
    except BaseException:  # the parent sees the zygote gone and says so
        code = 1
    kill_children()
    os._exit(code)


def fork_child(target: str, link: int, stdout: int, control: socket.socket) -> int:
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        control.close()
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        with contextlib.suppress(OSError):  # without one, the parent could be killed: no pass
            linux.signal_only_self()
        for fd in (1, 2):
            os.dup2(stdout, fd)
        close_all_but(link)
        resolve(target)(link)
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)


def end_child(pid: int | None, grace_s: float) -> tuple[dict[str, Any], bool]:
    """SIGKILL the child if it still runs after `grace_s`, then everything it started; its wait
    status."""
    if pid is None:
        return {"exit": 0}, False
    killed = False
    deadline = time.monotonic() + grace_s
    while not (reaped := os.waitpid(pid, os.WNOHANG))[0] and time.monotonic() < deadline:
        time.sleep(0.005)
    status = reaped[1]
    if not reaped[0]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        killed = True
        _, status = os.waitpid(pid, 0)
    kill_children()
    return describe(status), killed


def close_all_but(keep: int) -> None:
    """Close every descriptor above stderr but `keep`: nothing of the parent's (its answer file,
    its channel to the fork server) reaches a process that runs a candidate."""
    for fd in map(int, os.listdir("/proc/self/fd")):
        if fd > 2 and fd != keep:
            with contextlib.suppress(OSError):
                os.close(fd)
