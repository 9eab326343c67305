"""PID 1 of a sandbox container: `python -m kernel_agent.sandbox.container REQUEST [MODULE...]`.

Imports the named modules (torch, triton) first, so that a standby container has paid for them
before its request arrives; then waits for the request file, supervises
the task in a child process, and prints one JSON record, {"status": ..., "result": ...}, on its
own standard output; the task's own standard output is sent to standard error.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import sys
import time
from typing import Any

from kernel_agent.sandbox.supervise import supervise
from kernel_agent.sandbox.worker import answer, write_all

REQUEST_POLL_S = 0.01
RESULT_MAX_BYTES = 64 << 20


def read_result(fd: int) -> dict[str, Any] | None:
    """The answer written to `fd`, or None when there is none or it was cut short."""
    text = os.pread(fd, RESULT_MAX_BYTES, 0)
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def wait_for(path: str) -> dict[str, Any]:
    """The request, once it appears (a standby container starts before its request exists)."""
    while not os.path.exists(path):
        time.sleep(REQUEST_POLL_S)
    with open(path) as f:
        return json.load(f)


def container_main(request_path: str, preload: list[str]) -> int:
    for module in preload:
        with contextlib.suppress(ImportError):  # the task itself will say what is missing
            importlib.import_module(module)
    request = wait_for(request_path)
    result_fd = os.memfd_create("result")
    record_fd = os.dup(1)

    def task() -> None:
        os.close(record_fd)
        os.dup2(2, 1)  # the task's prints must not mix with the record
        answer(request, result_fd)

    status = supervise(task)
    record = {"status": status, "result": read_result(result_fd)}
    write_all(record_fd, (json.dumps(record) + "\n").encode())
    return 0


if __name__ == "__main__":
    os._exit(container_main(sys.argv[1], sys.argv[2:]))  # skip torch's slow interpreter teardown
