"""Inside the sandbox: resolve a task by name, run it on the payload, write the answer to a file.

`execute` turns a request into a result dict and never raises. `answer` writes it to the result
file descriptor, which is the only channel back: whatever the task prints goes to the log, so it
can never be mistaken for the answer. The result carries three wall-clock moments (the task began,
its module was imported, it ended), from which the host tells hand-off and transfer apart from
the task's own time.
"""

from __future__ import annotations

import importlib
import json
import os
import time
import traceback
from collections.abc import Callable
from typing import Any

MESSAGE_CHARS = 4000


class TaskFailure(Exception):
    """A failure the task has diagnosed itself (a process of its own that died, say): reported
    as that kind, as if the sandbox had seen it, rather than as the task's own error."""

    def __init__(self, kind: str, message: str, signal: int | None = None) -> None:
        super().__init__(message)
        self.kind, self.signal = kind, signal


def resolve(task: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Turn "pkg.module:function" into the function."""
    module_name, _, attr = task.partition(":")
    if not module_name or not attr:
        raise ValueError(f"task name {task!r} is not of the form 'package.module:function'")
    return getattr(importlib.import_module(module_name), attr)


CUDA_ERROR_MARKERS = ("CUDA error", "cudaError", "CUDA driver error", "Triton Error [CUDA]",
                      "illegal memory access")


def failure_kind(exc: BaseException) -> str | None:
    """out_of_memory or cuda_error when the exception says so (torch's, Triton's or Python's)."""
    text = "".join(traceback.format_exception_only(exc))  # never raises, whatever __str__ does
    if (isinstance(exc, MemoryError) or "OutOfMemoryError" in type(exc).__name__
            or "can't allocate memory" in text):
        return "out_of_memory"
    if any(mark in text for mark in CUDA_ERROR_MARKERS):
        return "cuda_error"
    return None


def classify(exc: BaseException) -> str:
    """Map an exception that escaped the task to a failure kind."""
    return failure_kind(exc) or "sandbox_error"


def execute(request: dict[str, Any]) -> dict[str, Any]:
    """Run the requested task; its value, or the failure that escaped it, as a dict."""
    clock = {"started": time.time()}
    try:
        task = resolve(request["task"])
        clock["resolved"] = time.time()
        value = task(request["payload"])
        json.dumps(value)
        return {"value": value, "clock": {**clock, "finished": time.time()}}
    except TaskFailure as exc:
        return {"failure": {"kind": exc.kind, "message": str(exc)[-MESSAGE_CHARS:],
                            "signal": exc.signal}}
    except BaseException as exc:  # the task's own failure must still reach the host
        message = "".join(traceback.format_exception_only(exc)).strip()
        return {"failure": {"kind": classify(exc), "message": message[-MESSAGE_CHARS:]}}


def answer(request: dict[str, Any], result_fd: int) -> None:
    """Execute and write the answer, unless this is a forked copy of the task process."""
    owner = os.getpid()
    result = execute(request)
    if os.getpid() != owner:  # a fork made by the task unwound into here: it must not answer
        return
    write_all(result_fd, json.dumps(result).encode())


def write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]
