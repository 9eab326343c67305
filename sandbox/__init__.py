"""Where untrusted code runs: one `Sandbox` protocol, backends chosen by name.

`local` forks each task from a warm worker on this machine (a GPU worker keeps a task process
that stays fit for the next task, see resident.py); `docker` runs each task in a
locked-down container (needs the `docker` package and an engine). Both return the same
structured failures, so callers never care which one ran a task.
"""

from __future__ import annotations

import atexit
from typing import Any

from kernel_agent.sandbox.gpus import discover_gpus
from kernel_agent.sandbox.local import LocalSandbox
from kernel_agent.sandbox.pool import one_shot_preload
from kernel_agent.sandbox.protocol import Failure, FailureKind, Limits, Sandbox, TaskResult


def _docker(**options: Any) -> Sandbox:
    try:
        from kernel_agent.sandbox.docker import DockerSandbox  # the SDK is optional
    except ImportError as exc:
        raise ValueError(f"the docker sandbox needs the Docker SDK ({exc}): "
                         "pip install 'kernel-agent[docker]'") from None
    return DockerSandbox(**options)


BACKENDS = {"local": LocalSandbox, "docker": _docker}


def get_sandbox(name: str = "local", **options: Any) -> Sandbox:
    """Build the backend registered under `name`."""
    try:
        backend = BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown sandbox {name!r}; choose one of {sorted(BACKENDS)}") from None
    return backend(**options)


# A local one-shot sandbox whose server was started before its caller knew it would need it.
STARTED_EARLY: list[LocalSandbox] = []


def one_shot_sandbox(name: str = "local") -> Sandbox:
    """A backend for a caller that runs a task or two and closes it (`kernel-agent check`): the
    local one then keeps no task process, and its server imports before the first task only
    what that task uses for sure (pool.one_shot_preload); a server serving many tasks imports
    more up front (pool.default_preload), which a one-shot caller would wait for whether or not
    its task uses it. The one `start_one_shot_early` started is handed out first."""
    if name != "local":
        while STARTED_EARLY:
            STARTED_EARLY.pop().close()
        return get_sandbox(name)
    return STARTED_EARLY.pop() if STARTED_EARLY else local_one_shot()


def local_one_shot() -> LocalSandbox:
    gpus = discover_gpus()
    return LocalSandbox(resident=False, gpus=gpus, preload=one_shot_preload(bool(gpus)))


def start_one_shot_early() -> None:
    """Start the next local one-shot sandbox's server now: most of a check's wall time is that
    server's start (importing torch, on a GPU Triton too), which then goes on beside whatever
    the caller does before its first task (the CLI's own imports and argument parsing). Closed
    at exit, whether or not it was handed out."""
    if STARTED_EARLY:
        return
    sandbox = local_one_shot()
    sandbox.start()
    STARTED_EARLY.append(sandbox)
    atexit.register(sandbox.close)


__all__ = ["BACKENDS", "STARTED_EARLY", "Failure", "FailureKind", "Limits", "LocalSandbox",
           "Sandbox", "TaskResult", "get_sandbox", "one_shot_sandbox", "start_one_shot_early"]
