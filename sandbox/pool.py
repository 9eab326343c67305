"""Host side of the local backend: fork-server processes, a few per GPU, handed out one at a time.

The host is the only clock: it kills a task's process group when the wall-clock limit passes,
and if the server then does not report within a grace period, or dies, the host kills the server
too and starts a fresh one for the next task. Nothing a task does can take the host down with it.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

READY_TIMEOUT_S = 120.0
REPLY_TIMEOUT_S = 30.0
KILL_GRACE_S = 10.0


class ServerLost(Exception):
    """The fork server died or stopped answering; the message says what was seen."""


@dataclass
class Exit:
    """What the server reported about one finished task, plus the host's own observations."""

    timed_out: bool
    elapsed_s: float
    oom_kills: int = 0
    strays: int = 0
    notes: list[str] = field(default_factory=list)


class ForkServer:
    """One fork-server process, pinned to one GPU (or none), restarted when it dies."""

    def __init__(self, gpu: int | None, python: str, config: dict[str, Any],
                 env: dict[str, str]) -> None:
        self.gpu, self.python = gpu, python
        resident = config.get("resident")
        resident = gpu is not None if resident is None else resident
        self.config = {**config, "resident": resident,
                       "preload": list(config["preload"] or default_preload(gpu, resident))}
        # GPUs are numbered as NVML numbers them (PCI bus order); CUDA's default order (fastest
        # first) differs on hosts with mixed GPU models, so the pin names the same device.
        self.env = {**env, "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
                    "CUDA_VISIBLE_DEVICES": "" if gpu is None else str(gpu)}
        self.process: subprocess.Popen[bytes] | None = None
        self.buffer = b""
        self.info: dict[str, Any] = {}
        self.kept: int | None = None  # the pid of a resident task process waiting for a job

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Spawn the server; it imports torch in the background until `ready()` is awaited."""
        self.stop()
        self.buffer, self.info = b"", {}
        self.process = subprocess.Popen(
            [self.python, "-m", "kernel_agent.sandbox.forkserver", json.dumps(self.config)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=self.env, cwd="/",
            start_new_session=True)

    def ready(self) -> dict[str, Any]:
        """The server's ready message (isolation found, notes), waiting for it the first time."""
        if not self.alive:
            self.start()
        if not self.info:
            try:
                self.info = self.receive("ready", READY_TIMEOUT_S)
            except TimeoutError:
                self.stop()
                raise ServerLost(
                    f"the fork server was not ready after {READY_TIMEOUT_S:g} s") from None
        return self.info

    def run(self, job: dict[str, Any], wall_s: float) -> Exit:
        """Run one job; kill it at the wall-clock limit. Raises ServerLost if the server fails."""
        assert self.process is not None and self.process.stdin is not None
        try:
            self.process.stdin.write((json.dumps({"op": "run", **job}) + "\n").encode())
            self.process.stdin.flush()
        except OSError as exc:
            raise ServerLost(f"cannot send to the fork server: {exc}") from None
        try:
            pid = self.receive("started", REPLY_TIMEOUT_S)["pid"]
        except TimeoutError:
            self.stop()
            raise ServerLost("the fork server did not start the task") from None
        started = time.monotonic()
        timed_out = False
        self.kept = None
        try:
            reply = self.receive("exited", wall_s)
        except TimeoutError:
            timed_out = True
            kill_group(pid)
            try:
                reply = self.receive("exited", KILL_GRACE_S)
            except (TimeoutError, ServerLost):
                self.stop()
                reply = {"notes": ["the fork server did not report the killed task; restarted"]}
        except ServerLost:
            kill_group(pid)
            raise
        elapsed = time.monotonic() - started
        self.kept = pid if reply.get("kept") else None
        return Exit(timed_out=timed_out, elapsed_s=elapsed, oom_kills=reply.get("oom_kills", 0),
                    strays=reply.get("strays", 0), notes=reply.get("notes", []))

    def receive(self, event: str, timeout: float) -> dict[str, Any]:
        """The next message, which must be `event`; TimeoutError or ServerLost otherwise."""
        assert self.process is not None and self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(event)
            if not select.select([fd], [], [], left)[0]:
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                code = self.process.wait()
                self.process = None
                raise ServerLost(f"the fork server exited ({describe_code(code)}) "
                                 f"while waiting for '{event}'")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        message = json.loads(line)
        if message.get("event") != event:
            self.stop()
            raise ServerLost(f"the fork server said {message.get('event')!r}, not {event!r}")
        return message

    def stop(self) -> None:
        self.kept = None
        if self.process is None:
            return
        if self.process.poll() is None:
            kill_group(self.process.pid)
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        self.process = None
        self.info = {}


# The meta device's shape machinery (sympy underneath) costs 1.5-2 s on first use; the verifier's
# size check and the memory's input signatures use it in every task.
META_DEVICE = ("torch._meta_registrations", "torch.fx.experimental.symbolic_shapes")

# torch's changes to itself that a problem's first compiled baseline makes, made before the fork
# so that no resident task process reads them as a candidate's (tools/torch_settled.py).
SETTLED = "kernel_agent.tools.torch_settled"
# Triton's key of its own installation, computed before the fork rather than at every task
# process's first kernel launch (tools/triton_settled.py).
TRITON_SETTLED = "kernel_agent.tools.triton_settled"


def one_shot_preload(gpu: bool) -> tuple[str, ...]:
    """A one-shot server's: what its one task uses for sure. On a GPU that is also triton, with
    its installation's key and driver settled, which the judge and the candidate's process would
    otherwise each make again; the meta device's machinery only serves a CPU size check or an
    input signature, so the task imports it if it needs it."""
    return ("torch", "triton", TRITON_SETTLED) if gpu else ("torch",)


def default_preload(gpu: int | None, resident: bool) -> tuple[str, ...]:
    """torch always; for a GPU also triton (on the CPU the verifier wants Triton's interpreter,
    chosen before triton is first imported) with its installation's key and, where task
    processes are kept, torch's changes to itself: importing Dynamo for them costs 0.7 s, of no
    use where every task gets a new process."""
    if gpu is None:
        return ("torch", *META_DEVICE)
    return ("torch", *META_DEVICE, "triton", TRITON_SETTLED, *((SETTLED,) if resident else ()))


def kill_group(pgid: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def describe_code(code: int) -> str:
    return f"killed by signal {-code}" if code < 0 else f"exit code {code}"


class Pool:
    """Fork servers for `gpus` (workers_per_gpu each), or `cpu_workers` without GPUs.

    `config` goes to every server: {"preload": modules or None for the default, "namespaces":
    bool, "cgroups": bool, "resident": bool, or None for GPU servers only}.
    """

    def __init__(self, gpus: list[int], workers_per_gpu: int, cpu_workers: int,
                 config: dict[str, Any], env: dict[str, str],
                 python: str = sys.executable) -> None:
        slots: list[int | None] = ([g for g in gpus for _ in range(workers_per_gpu)] if gpus
                                   else [None] * cpu_workers)
        self.servers = [ForkServer(gpu, python, config, env) for gpu in slots]
        self.idle = list(self.servers)
        self.changed = threading.Condition()
        self.started = False

    @contextmanager
    def checkout(self, gpu_ids: tuple[int, ...] | None) -> Iterator[ForkServer]:
        """An idle server whose GPU is in `gpu_ids` (any when None), alive and ready."""
        fits = [s for s in self.servers if gpu_ids is None or s.gpu in gpu_ids]
        if not fits:
            have = sorted({s.gpu for s in self.servers}, key=str)
            raise LookupError(f"no worker for GPU ids {list(gpu_ids or [])}; workers have {have}")
        with self.changed:
            self.start()
            self.changed.wait_for(lambda: any(s in self.idle for s in fits))
            server = next(s for s in self.idle if s in fits)
            self.idle.remove(server)
        try:
            server.ready()
            yield server
        finally:
            with self.changed:
                self.idle.append(server)
                self.changed.notify_all()

    def start(self) -> None:
        """Spawn every server, unless they were spawned already: all import torch at once, in
        the background, while the caller goes on."""
        with self.changed:
            if not self.started:
                for server in self.servers:
                    server.start()
                self.started = True

    def close(self) -> None:
        with self.changed:
            for server in self.servers:
                server.stop()
            self.started = False
