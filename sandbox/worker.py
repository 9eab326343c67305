"""Entry point inside the sandbox: resolve a task by name, run it on the payload, write the result.

Invoked as `python -m kernel_agent.sandbox.worker REQUEST.json RESULT.json`. The result file is
the only channel back, so whatever the task prints cannot be mistaken for its answer.
"""

from __future__ import annotations

import importlib
import json
import sys
import traceback
from collections.abc import Callable
from typing import Any


def resolve(task: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Turn "pkg.module:function" into the function."""
    module_name, _, attr = task.partition(":")
    if not module_name or not attr:
        raise ValueError(f"task name {task!r} is not of the form 'package.module:function'")
    return getattr(importlib.import_module(module_name), attr)


def classify(exc: BaseException) -> str:
    """Map an exception that escaped the task to a failure kind."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, MemoryError) or "OutOfMemoryError" in type(exc).__name__:
        return "out_of_memory"
    if "CUDA error" in text or "cudaError" in text or "CUDA driver error" in text:
        return "cuda_error"
    return "sandbox_error"


def main(argv: list[str]) -> int:
    request_path, result_path = argv
    with open(request_path) as f:
        request = json.load(f)
    try:
        value = resolve(request["task"])(request["payload"])
        result: dict[str, Any] = {"value": value}
    except BaseException as exc:  # the task's own failure must still reach the host
        result = {
            "failure": {
                "kind": classify(exc),
                "message": "".join(traceback.format_exception_only(exc)).strip()[-4000:],
            }
        }
    with open(result_path, "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
