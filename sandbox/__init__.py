"""Where untrusted code runs: one `Sandbox` protocol, backends chosen by name.

`local` forks each task from a warm worker on this machine (a GPU worker keeps a task process
that stays fit for the next task, see resident.py); `docker` runs each task in a
locked-down container (needs the `docker` package and an engine). Both return the same
structured failures, so callers never care which one ran a task.
"""

from __future__ import annotations

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


def one_shot_sandbox(name: str = "local") -> Sandbox:
    """A backend for a caller that runs a task or two and closes it (`kernel-agent check`): the
    local one then keeps no task process, and its server imports before the first task only
    what that task uses for sure (pool.one_shot_preload); a server serving many tasks imports
    more up front (pool.default_preload), which a one-shot caller would wait for whether or not
    its task uses it."""
    if name != "local":
        return get_sandbox(name)
    gpus = discover_gpus()
    return get_sandbox(name, resident=False, gpus=gpus, preload=one_shot_preload(bool(gpus)))


__all__ = ["BACKENDS", "Failure", "FailureKind", "Limits", "LocalSandbox", "Sandbox", "TaskResult",
           "get_sandbox", "one_shot_sandbox"]
