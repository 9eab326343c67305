"""The local backend: each task runs in a child Python process in its own process group.

The child gets a private temporary working directory (removed afterwards), an environment built
from an allow-list, and is killed with its whole process group when the wall-clock limit passes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kernel_agent.sandbox.protocol import Failure, Limits, TaskResult

ENV_ALLOW = (
    "PATH", "HOME", "LANG", "LC_ALL", "TERM", "TZ", "PYTHONPATH", "VIRTUAL_ENV",
    "CUDA_HOME", "CUDA_PATH", "LD_LIBRARY_PATH", "TRITON_CACHE_DIR", "TRITON_INTERPRET",
    "TORCHINDUCTOR_CACHE_DIR", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS",
)
ENV_ALLOW_PREFIXES = ("NVIDIA_", "KERNEL_AGENT_SANDBOX_")
OUTPUT_TAIL_CHARS = 4000


def sandbox_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The child's environment: allow-listed names only, so no API keys or tokens leak in."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k in ENV_ALLOW or k.startswith(ENV_ALLOW_PREFIXES)
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


class LocalSandbox:
    """One fresh child process per task."""

    name = "local"

    def __init__(self, python: str = sys.executable, env: dict[str, str] | None = None) -> None:
        self.python = python
        self.extra_env = env or {}

    def run(self, task: str, payload: dict[str, Any], limits: Limits | None = None) -> TaskResult:
        limits = limits or Limits()
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix="kernel-agent-") as tmp:
            work = Path(tmp)
            request, result = work / "request.json", work / "result.json"
            request.write_text(json.dumps({"task": task, "payload": payload}))
            env = sandbox_env(self.extra_env)
            env["TMPDIR"] = str(work)
            if limits.gpu_ids is not None:
                env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, limits.gpu_ids))
            log = work / "output.log"
            with open(log, "wb") as out:
                proc = subprocess.Popen(
                    [self.python, "-m", "kernel_agent.sandbox.worker", str(request), str(result)],
                    cwd=work, env=env, stdin=subprocess.DEVNULL, stdout=out,
                    stderr=subprocess.STDOUT, start_new_session=True,
                )
                try:
                    code = proc.wait(timeout=limits.wall_s)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    code = None
            tail = log.read_text(errors="replace")[-OUTPUT_TAIL_CHARS:]
            elapsed = time.monotonic() - started
            if code is None:
                failure = Failure("timeout",
                                  f"killed after the {limits.wall_s:g} s wall-clock limit")
                return TaskResult(failure=failure, output_tail=tail, elapsed_s=elapsed)
            if code < 0:
                failure = Failure(
                    "crashed", f"the task died with {signal.Signals(-code).name}", signal=-code
                )
                return TaskResult(failure=failure, output_tail=tail, elapsed_s=elapsed)
            if not result.exists():
                failure = Failure("sandbox_error",
                                  f"the worker exited with code {code} and no result")
                return TaskResult(failure=failure, output_tail=tail, elapsed_s=elapsed)
            answer = json.loads(result.read_text())
        if "failure" in answer:
            return TaskResult(failure=Failure(**answer["failure"]), output_tail=tail,
                              elapsed_s=elapsed)
        return TaskResult(value=answer["value"], output_tail=tail, elapsed_s=elapsed)

    def close(self) -> None:
        """Nothing is kept between tasks."""
