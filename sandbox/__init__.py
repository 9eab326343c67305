"""Where untrusted code runs: one `Sandbox` protocol, backends chosen by name."""

from kernel_agent.sandbox.local import LocalSandbox
from kernel_agent.sandbox.protocol import Failure, FailureKind, Limits, Sandbox, TaskResult

BACKENDS = {"local": LocalSandbox}


def get_sandbox(name: str = "local", **options: object) -> Sandbox:
    """Build the backend registered under `name`."""
    try:
        backend = BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown sandbox {name!r}; choose one of {sorted(BACKENDS)}") from None
    return backend(**options)


__all__ = ["BACKENDS", "Failure", "FailureKind", "Limits", "LocalSandbox", "Sandbox", "TaskResult",
           "get_sandbox"]
