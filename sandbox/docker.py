"""The docker backend: one locked-down, throw-away container per task, through the Docker SDK.

A container has no network, a read-only root, a tmpfs work directory, memory/pids/cpu limits,
no-new-privileges, no capabilities, a non-root user and GPUs only when asked for. Its PID 1 is
container.py, which supervises the task in a child and prints one JSON record on standard output
(the task's own output goes to standard error).

The request reaches the container through a read-only bind mount of a private host directory:
put_archive cannot write into a read-only root, and a tmpfs does not exist until the container
runs, so a file the container can read but never write is the simplest channel that leaves
nothing writable on the host. (This needs the engine on this machine, not a remote one.)

Docker's wait(timeout=...) is only an HTTP read timeout: when it fires the container is still
running, so it is killed explicitly, and every container is removed in a `finally`. Optionally
`standby` containers are started ahead of time (PID 1 imports torch, then waits for its request
file), which hides container start and the torch import from the next task. They are made only
once a sandbox has run a task before, so a one-shot `kernel-agent check` never pays for one.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import docker
import requests
from docker.errors import DockerException, ImageNotFound, NotFound
from docker.types import DeviceRequest, LogConfig, Mount

from kernel_agent.sandbox.environment import scrubbed_env, task_env
from kernel_agent.sandbox.local import physical_memory_bytes, remove_tree
from kernel_agent.sandbox.outcome import OUTPUT_TAIL_CHARS, task_result
from kernel_agent.sandbox.pool import default_preload
from kernel_agent.sandbox.protocol import Failure, Limits, TaskResult

DEFAULT_IMAGE = "kernel-agent-sandbox:latest"
LABEL = "kernel-agent.sandbox"
WORKDIR = "/work"
REQUEST_PATH = "/io/request.json"  # the read-only bind mount of the private io dir
USER = "65534:65534"  # nobody: exists in every base image
DEFAULT_MAX_PROCESSES = 4096
KILL_WAIT_S = 30.0
PASS_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TRITON_INTERPRET", "CUDA_LAUNCH_BLOCKING")


class SandboxUnavailable(ValueError):
    """The engine or the image is missing: a set-up problem, not something a task did."""


class DockerSandbox:
    """A container per task from `image` (built by `kernel-agent sandbox build`)."""

    name = "docker"

    def __init__(self, *, image: str = DEFAULT_IMAGE, cpus: float | None = None,
                 standby: int = 1, tmp_mb: int = 1024, env: dict[str, str] | None = None,
                 preload: tuple[str, ...] | None = None,
                 client: docker.DockerClient | None = None) -> None:
        try:
            self.client = client or docker.from_env()
            self.client.ping()
        except DockerException as exc:
            raise SandboxUnavailable(f"no Docker engine reachable: {exc}") from None
        try:
            self.client.images.get(image)
        except ImageNotFound:
            raise SandboxUnavailable(
                f"image {image!r} not found: build it with `kernel-agent sandbox build`") from None
        self.image, self.cpus, self.standby, self.tmp_mb = image, cpus, standby, tmp_mb
        self.preload = preload
        self.env = {k: v for k, v in scrubbed_env(extra=env).items()
                    if k in PASS_ENV or k.startswith(("KERNEL_AGENT_SANDBOX_", "NVIDIA_"))}
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.used = False
        self.spares = Spares()
        remove_orphans(self.client)
        self._finalizer = weakref.finalize(self, self.spares.close)  # also runs at exit

    def run(self, task: str, payload: dict[str, Any], limits: Limits | None = None) -> TaskResult:
        limits = limits or Limits()
        request = json.dumps({"task": task, "payload": payload})
        try:
            started = self.take_spare(limits) or self.start(limits)
        except DockerException as exc:
            return TaskResult(failure=Failure("sandbox_error", f"cannot start a container: {exc}"))
        if self.standby and self.used:
            self.refill(limits)
        self.used = True
        try:
            return started.execute(request, limits)
        except DockerException as exc:
            return TaskResult(failure=Failure("sandbox_error", f"docker failed: {exc}"))
        finally:
            started.discard()

    def start(self, limits: Limits) -> Started:
        """Create and start a container that waits for its request."""
        memory = (limits.memory_mb << 20) if limits.memory_mb else physical_memory_bytes() // 2
        io_dir = Path(tempfile.mkdtemp(prefix="kernel-agent-task-"))
        (io_dir / "io").mkdir(mode=0o755)
        try:
            container = self.client.containers.create(
                self.image, ["python", "-m", "kernel_agent.sandbox.container", REQUEST_PATH,
                             *(self.preload if self.preload is not None else
                               default_preload(0 if limits.gpu_ids else None, resident=False))],
                user=USER, working_dir=WORKDIR,
                environment=task_env(self.env, WORKDIR),
                network_mode="none", read_only=True, ipc_mode="private",
                tmpfs={WORKDIR: f"size={self.tmp_mb}m,mode=1777,exec",
                       "/tmp": f"size={self.tmp_mb}m,mode=1777"},
                mounts=[Mount("/io", str(io_dir / "io"), type="bind",
                              read_only=True)],
                mem_limit=memory, memswap_limit=memory,
                pids_limit=limits.max_processes or DEFAULT_MAX_PROCESSES,
                nano_cpus=int(self.cpus * 1e9) if self.cpus else None,
                security_opt=["no-new-privileges"], cap_drop=["ALL"],
                device_requests=gpu_requests(limits.gpu_ids),
                labels={LABEL: self.owner},
                log_config=LogConfig(type="json-file", config={"max-size": "10m",
                                                               "max-file": "1"}))
        except BaseException:
            remove_tree(io_dir)
            raise
        started = Started(container, io_dir, memory)
        try:
            container.start()
        except BaseException:  # e.g. GPUs asked for without the NVIDIA runtime
            started.discard()
            raise
        return started

    def take_spare(self, limits: Limits) -> Started | None:
        return self.spares.take(shape(limits))

    def refill(self, limits: Limits) -> None:
        """Start spare containers for these limits in the background."""
        for _ in range(self.spares.wanted(shape(limits), self.standby)):
            self.spares.fill(shape(limits), lambda: self.start(limits))

    def close(self) -> None:
        self._finalizer()


def shape(limits: Limits) -> Limits:
    """The limits a container is made with; the wall-clock limit is the host's to enforce."""
    return replace(limits, wall_s=0.0)


class Spares:
    """Started containers waiting for a task, by the limits they were made with."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ready: dict[Limits, list[Started]] = {}
        self.fillers: list[threading.Thread] = []
        self.closed = False

    def take(self, limits: Limits) -> Started | None:
        with self.lock:
            spares = self.ready.get(limits, [])
            return spares.pop() if spares else None

    def wanted(self, limits: Limits, standby: int) -> int:
        with self.lock:
            self.fillers = [t for t in self.fillers if t.is_alive()]
            return max(0, standby - len(self.ready.get(limits, [])) - len(self.fillers))

    def fill(self, limits: Limits, start: Callable[[], Started]) -> None:
        def run() -> None:
            try:
                started = start()
            except DockerException:
                return
            with self.lock:
                if not self.closed:
                    self.ready.setdefault(limits, []).append(started)
                    return
            started.discard()

        thread = threading.Thread(target=run, daemon=True)
        with self.lock:
            self.fillers.append(thread)
        thread.start()

    def close(self) -> None:
        with self.lock:
            self.closed = True
            fillers = list(self.fillers)
        for thread in fillers:
            thread.join()
        with self.lock:
            spares = [s for ready in self.ready.values() for s in ready]
            self.ready.clear()
        for started in spares:
            with contextlib.suppress(DockerException):
                started.discard()


class Started:
    """A running container waiting for its request, and its private request directory."""

    def __init__(self, container: Any, io_dir: Path, memory_bytes: int) -> None:
        self.container, self.io_dir, self.memory_bytes = container, io_dir, memory_bytes

    def execute(self, request: str, limits: Limits) -> TaskResult:
        staging = self.io_dir / "request.tmp"
        staging.write_text(request)
        staging.chmod(0o644)
        began = time.monotonic()
        staging.rename(self.io_dir / "io" / "request.json")  # appears whole, never half-written
        timed_out = False
        try:
            self.container.wait(timeout=limits.wall_s)
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            timed_out = True  # the HTTP wait gave up; the container itself is still running
            self.container.kill()
            self.container.wait(timeout=KILL_WAIT_S)
        elapsed = time.monotonic() - began
        self.container.reload()
        oom_killed = bool(self.container.attrs["State"].get("OOMKilled"))
        record = last_record(self.container.logs(stdout=True, stderr=False))
        output = self.container.logs(stdout=False, stderr=True, tail=200)
        return task_result(
            answer=record.get("result"), status=record.get("status"), timed_out=timed_out,
            wall_s=limits.wall_s, oom_killed=oom_killed, memory_bytes=self.memory_bytes,
            output=output.decode(errors="replace")[-OUTPUT_TAIL_CHARS:], elapsed_s=elapsed,
            notes=[])

    def discard(self) -> None:
        try:
            self.container.remove(force=True)
        except NotFound:
            pass
        finally:
            remove_tree(self.io_dir)


def last_record(stdout: bytes) -> dict[str, Any]:
    lines = stdout.decode(errors="replace").strip().splitlines()
    try:
        return json.loads(lines[-1]) if lines else {}
    except ValueError:
        return {}


def gpu_requests(gpu_ids: tuple[int, ...] | None) -> list[DeviceRequest] | None:
    if gpu_ids is None:
        return None
    return [DeviceRequest(device_ids=[str(i) for i in gpu_ids], capabilities=[["gpu"]])]


def remove_orphans(client: docker.DockerClient) -> None:
    """Remove containers left by sandboxes of processes on this host that no longer exist."""
    host = socket.gethostname()
    for container in client.containers.list(all=True, filters={"label": LABEL}):
        owner = container.labels.get(LABEL, "").split(":")  # host:pid:sandbox
        if (len(owner) == 3 and owner[0] == host and owner[1].isdigit()
                and not os.path.exists(f"/proc/{owner[1]}")):
            with contextlib.suppress(DockerException):
                container.remove(force=True)
