"""Host side of verification: read the files, run the verifier task in a sandbox, keep baselines.

This module never imports torch: the agent process stays light and a candidate's crash, hang or
CUDA fault only ever ends the sandboxed process. Baseline timings (eager and torch.compile) are
cached per problem, GPU and torch version, so each problem pays for them once; so is the
reference's own run time, from which a verification's wall limit is derived
(tools/wall_limit.py) when none is given.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import time
import tokenize
from contextlib import suppress
from dataclasses import replace
from pathlib import Path
from typing import Any

from kernel_agent.sandbox import Limits, Sandbox, TaskResult, one_shot_sandbox
from kernel_agent.sandbox.environment import user_cache_root
from kernel_agent.tools.compiled_store import CompiledFilesError, CompiledStore
from kernel_agent.tools.cpu_verdict import explain_cpu_failure
from kernel_agent.tools.locks import lock_for
from kernel_agent.tools.phases import with_host_phases
from kernel_agent.tools.verdict import ErrorInfo, Verdict
from kernel_agent.tools.wall_limit import (
    DEFAULT_POLICY,
    WallLimit,
    WallPolicy,
    derived,
    given,
    within,
)

VERIFY_TASK = "kernel_agent.tools.judge:run"
CPU_TIMEOUT_HINT = ("; this machine has no GPU, so Triton kernels ran under the interpreter, "
                    "hundreds of times slower: a problem with get_small_inputs() is checked on "
                    "those here")
REFERENCE_RUN = "reference_run"  # the baseline cache's entry for the reference's own run
REFERENCE_PATH = "reference_check.py"


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
        return {"text": python_text(Path(path).read_bytes()), "path": str(path)}
    except FileNotFoundError:
        raise BadInput(f"{role} file not found: {path}") from None
    except IsADirectoryError:
        raise BadInput(f"{role} path is a directory, not a Python file: {path}") from None
    except (OSError, UnicodeDecodeError, SyntaxError, LookupError) as exc:  # a bad coding line
        raise BadInput(f"{role} file {path} cannot be read: {exc}") from None


def python_text(data: bytes) -> str:
    """A Python file's text decoded as Python decodes it: a UTF-8 byte-order mark or a coding
    declaration says how, else UTF-8; the mark itself is no part of the text."""
    encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    return data.decode(encoding).removeprefix("\ufeff")


def verify_sources(problem: dict[str, str], candidate: dict[str, str], *,
                   sandbox: Sandbox | None = None, limits: Limits | None = None,
                   baselines: BaselineCache | None = None, deadline: float | None = None,
                   policy: WallPolicy = DEFAULT_POLICY, compiled: CompiledStore | None = None,
                   **options: Any) -> Verdict:
    """Verify candidate source against problem source; options go to the verifier payload.

    The wall limit is `limits.wall_s` when given, else derived from the reference's run time
    (measured once per problem and machine, then cached), and never more than the time left
    before `deadline` (epoch seconds); the verdict states it and how it was derived.
    `compiled`: where this source's compiled kernels are kept between processes, for callers
    whose sandbox dies with them (`kernel-agent check`).
    """
    baselines = baselines if baselines is not None else BaselineCache()
    own_sandbox = sandbox is None
    sandbox = sandbox or one_shot_sandbox()
    try:
        time_left = None if deadline is None else deadline - time.time()
        if limits is not None:
            wall = within(given(limits.wall_s), time_left)
        else:
            wall = within(reference_limit(problem, sandbox, baselines, policy, time_left,
                                          options), time_left)
        payload = {"problem": problem, "candidate": candidate,
                   "baselines": baselines.load(problem["text"]), **options}
        if compiled is not None:
            payload.update(compiled_files=compiled.load(candidate["text"]), keep_compiled=True)
        sent = time.time()
        result = sandbox.run(VERIFY_TASK, payload,
                             replace(limits or Limits(), wall_s=wall.seconds))
    finally:
        if own_sandbox:
            sandbox.close()
    keep_compiled(result, candidate["text"], compiled)
    remember_baselines(result, problem["text"], baselines)
    verdict = explain_cpu_failure(verdict_from_result(result, wall), candidate["text"])
    if not getattr(sandbox, "gpus", True) and verdict.error and verdict.error.kind == "timeout":
        verdict.error.message += CPU_TIMEOUT_HINT
    verdict.phases = with_host_phases(verdict.phases, result.clock, sent, time.time())
    verdict.wall_limit = wall.as_dict()
    return verdict


def keep_compiled(result: TaskResult, source_text: str, store: CompiledStore | None) -> None:
    """Take the files the task compiled out of its answer and keep them, if they can be kept."""
    files = result.value.pop("compiled_files", None) if isinstance(result.value, dict) else None
    if files and store is not None:
        with suppress(CompiledFilesError, OSError):
            store.store(source_text, files)


def run_reference(problem: dict[str, str], *, sandbox: Sandbox,
                  baselines: BaselineCache | None = None, limits: Limits | None = None,
                  deadline: float | None = None, policy: WallPolicy = DEFAULT_POLICY,
                  **options: Any) -> Verdict:
    """The reference verified as its own candidate (`ModelNew = Model`), untimed: proves it
    loads, builds and runs, and records how long that took, from which candidates' wall limits
    are derived. Its own limit is the one given, else the ceiling; within the time left."""
    baselines = baselines if baselines is not None else BaselineCache()
    time_left = None if deadline is None else deadline - time.time()
    wall = within(given(limits.wall_s if limits else policy.ceiling_s), time_left)
    as_candidate = {"text": problem["text"] + "\n\nModelNew = Model\n", "path": REFERENCE_PATH}
    payload = {"problem": problem, "candidate": as_candidate, "baselines": {},
               **options, "timing": False}
    result = sandbox.run(VERIFY_TASK, payload, replace(limits or Limits(), wall_s=wall.seconds))
    verdict = verdict_from_result(result, wall)
    verdict.wall_limit = wall.as_dict()
    if result.failure is None and verdict.status != "bad_input" and verdict.error is None:
        baselines.store(problem["text"], REFERENCE_RUN, {
            "seconds": round(result.elapsed_s, 3), "gpu": verdict.device.get("type") == "cuda",
            "device": verdict.device.get("name")})
    return verdict


def reference_limit(problem: dict[str, str], sandbox: Sandbox, baselines: BaselineCache,
                    policy: WallPolicy, time_left: float | None,
                    options: dict[str, Any]) -> WallLimit:
    """The limit derived from the reference's run time: cached, else measured now (once per
    problem at a time in this process, however many branches ask)."""
    entry = baselines.load(problem["text"]).get(REFERENCE_RUN)
    if entry is None:
        with lock_for("reference_run", hashlib.sha256(problem["text"].encode()).hexdigest()):
            entry = baselines.load(problem["text"]).get(REFERENCE_RUN)
            if entry is None:
                limits = Limits(wall_s=time_left) if time_left is not None else None
                reference = run_reference(problem, sandbox=sandbox, baselines=baselines,
                                          limits=limits, policy=policy, **options)
                entry = baselines.load(problem["text"]).get(REFERENCE_RUN)
                if entry is None:
                    why = reference.error.message if reference.error else reference.status
                    return derived(None, False, policy, "the reference's own run did not "
                                   f"complete ({why.splitlines()[0][:200]})")
    return derived(float(entry["seconds"]), bool(entry["gpu"]), policy)


def check_files(problem_path: str | Path, candidate_path: str | Path, **kwargs: Any) -> Verdict:
    """`kernel-agent check`: verify a candidate file against a problem file, its compiled kernels
    kept between runs."""
    kwargs.setdefault("compiled", CompiledStore(cache_dir() / "compiled"))
    return verify_sources(read_source(problem_path, "problem"),
                          read_source(candidate_path, "candidate"), **kwargs)


def verdict_from_result(result: TaskResult, wall: WallLimit | None = None) -> Verdict:
    """The verifier's verdict, or a failing one built from what the sandbox saw (a timeout says
    what the limit was and how it was derived)."""
    if result.failure is None and result.value is not None:
        return Verdict.from_dict(result.value)
    failure = result.failure
    assert failure is not None
    message = failure.message
    if failure.kind == "timeout" and wall is not None:
        message = f"{message}; the limit: {wall.how}"
    tail = result.output_tail.strip()
    return Verdict(status="fail", stage="sandbox", correct=False,
                   error=ErrorInfo(failure.kind, message, excerpt=tail[-1500:]),
                   elapsed_s=round(result.elapsed_s, 3))


def remember_baselines(result: TaskResult, problem_text: str, cache: BaselineCache) -> None:
    """Take the baselines the task measured (whatever its verdict) out of its answer and keep
    them for the problem's later candidates."""
    measured = (result.value.pop("baselines_measured", None) if isinstance(result.value, dict)
                else None)
    if not isinstance(measured, dict):
        return
    for key, entry in measured.items():
        if isinstance(entry, dict) and isinstance(entry.get("eager"), dict):
            cache.store(problem_text, str(key), entry)
