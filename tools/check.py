"""Host side of verification: read the files, run the verifier task in a sandbox, keep baselines.

This module never imports torch: the agent process stays light and a candidate's crash, hang or
CUDA fault only ever ends the sandboxed process. Baseline timings (eager and torch.compile) are
cached per problem, GPU and torch version, so each problem pays for them once.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from kernel_agent.sandbox import Limits, Sandbox, TaskResult, get_sandbox
from kernel_agent.sandbox.environment import user_cache_root
from kernel_agent.tools.cpu_verdict import explain_cpu_failure
from kernel_agent.tools.verdict import ErrorInfo, Verdict, baseline_key

VERIFY_TASK = "kernel_agent.tools.verify:run"
DEFAULT_WALL_S = 600.0


def cache_dir() -> Path:
    """Where kernel-agent keeps what is worth keeping between runs."""
    root = os.environ.get("KERNEL_AGENT_CACHE")
    return Path(root) if root else user_cache_root()


class BaselineCache:
    """A JSON file per problem (by content hash) mapping GPU|torch -> eager/compiled Stats."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or cache_dir() / "baselines"

    def path(self, problem_text: str) -> Path:
        return self.directory / f"{hashlib.sha256(problem_text.encode()).hexdigest()[:24]}.json"

    def load(self, problem_text: str) -> dict[str, Any]:
        try:
            return json.loads(self.path(problem_text).read_text())
        except (OSError, ValueError):
            return {}

    def store(self, problem_text: str, key: str, entry: dict[str, Any]) -> None:
        """Atomic replace, so concurrent writers never leave a torn file."""
        self.directory.mkdir(parents=True, exist_ok=True)
        entries = {**self.load(problem_text), key: entry}
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            json.dump(entries, f)
        os.replace(tmp, self.path(problem_text))


class BadInput(Exception):
    """A file that cannot be read at all (missing, a directory, not text)."""


def read_source(path: str | Path, role: str) -> dict[str, str]:
    try:
        return {"text": Path(path).read_text(), "path": str(path)}
    except FileNotFoundError:
        raise BadInput(f"{role} file not found: {path}") from None
    except IsADirectoryError:
        raise BadInput(f"{role} path is a directory, not a Python file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{role} file {path} cannot be read: {exc}") from None


def verify_sources(problem: dict[str, str], candidate: dict[str, str], *,
                   sandbox: Sandbox | None = None, limits: Limits | None = None,
                   baselines: BaselineCache | None = None, **options: Any) -> Verdict:
    """Verify candidate source against problem source; options go to the verifier payload."""
    baselines = baselines if baselines is not None else BaselineCache()
    payload = {"problem": problem, "candidate": candidate,
               "baselines": baselines.load(problem["text"]), **options}
    own_sandbox = sandbox is None
    sandbox = sandbox or get_sandbox("local")
    try:
        result = sandbox.run(VERIFY_TASK, payload, limits or Limits(wall_s=DEFAULT_WALL_S))
    finally:
        if own_sandbox:
            sandbox.close()
    verdict = explain_cpu_failure(verdict_from_result(result), candidate["text"])
    remember_baseline(verdict, problem["text"], baselines)
    return verdict


def check_files(problem_path: str | Path, candidate_path: str | Path, **kwargs: Any) -> Verdict:
    """`kernel-agent check`: verify a candidate file against a problem file."""
    return verify_sources(read_source(problem_path, "problem"),
                          read_source(candidate_path, "candidate"), **kwargs)


def verdict_from_result(result: TaskResult) -> Verdict:
    """The verifier's verdict, or a failing one built from what the sandbox saw."""
    if result.failure is None and result.value is not None:
        return Verdict.from_dict(result.value)
    failure = result.failure
    assert failure is not None
    message = failure.message
    tail = result.output_tail.strip()
    return Verdict(status="fail", stage="sandbox", correct=False,
                   error=ErrorInfo(failure.kind, message, excerpt=tail[-1500:]),
                   elapsed_s=round(result.elapsed_s, 3))


def remember_baseline(verdict: Verdict, problem_text: str, cache: BaselineCache) -> None:
    timing = verdict.timing
    if timing is None or timing.baseline_cached or timing.eager is None:
        return
    entry = {"eager": asdict(timing.eager),
             "compiled": asdict(timing.compiled) if timing.compiled else None,
             "compile_error": timing.compile_error, "seconds": timing.baseline_seconds}
    cache.store(problem_text, baseline_key(verdict.device), entry)
