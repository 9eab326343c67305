"""What `kernel-agent solve` settles before a search starts: problem, run directory, budget.

Every check that can fail on the user's input runs here, before a model or a sandbox is touched,
so a mistyped flag or a broken problem file costs milliseconds and gets a message naming the
fix. A resumed run takes its settings from the run directory's `run.json` unless a flag names
them again; `--budget` given with `--resume` is time added to the run.
"""

from __future__ import annotations

import ast
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kernel_agent.evals.options import parse_duration
from kernel_agent.graphs.problem_file import backends_of, structure_error
from kernel_agent.graphs.rundir import META
from kernel_agent.tools.check import BadInput, read_source

RUNS = Path("runs")
BACKEND_CHOICES = ("triton", "cuda")
SANDBOX_CHOICES = ("local", "docker")
DEFAULT_MINUTES, DEFAULT_BRANCHES = 15.0, 4


class SolveInputError(Exception):
    """A flag or a file that `solve` cannot use; the message says what to do instead."""


@dataclass(frozen=True)
class SolveRequest:
    """The command line as given (None: not given)."""

    problem: Path
    budget: str | None = None
    branches: int | None = None
    backend: str | None = None
    sandbox: str = "local"
    target_speedup: float | None = None
    rounds: int | None = None
    out: Path | None = None
    resume: str | None = None


@dataclass(frozen=True)
class SolvePlan:
    """Everything the search is started with."""

    problem: Path
    problem_text: str | None  # the problem with its backends narrowed, None: the file as it is
    run_dir: Path
    thread_id: str
    resume: bool
    minutes: float
    branches: int
    rounds: int | None
    target_speedup: float | None
    more_minutes: float | None = None  # a resumed run: time added to it


def plan_solve(request: SolveRequest) -> SolvePlan:
    """Check the request and turn it into a plan; raises SolveInputError."""
    if request.sandbox not in SANDBOX_CHOICES:
        raise SolveInputError(f"--sandbox must be one of {', '.join(SANDBOX_CHOICES)}, "
                              f"not {request.sandbox!r}")
    if request.target_speedup is not None and request.target_speedup <= 0:
        raise SolveInputError(f"--target-speedup must be positive, not {request.target_speedup}")
    minutes = _minutes(request.budget)
    text = _problem_text(request.problem)
    narrowed = restrict_backends(text, str(request.problem), request.backend)
    if request.resume is not None:
        return _resumed(request, text, minutes)
    thread_id = uuid.uuid4().hex
    run_dir = request.out or RUNS / f"{_problem_name(request.problem)}-{thread_id[:8]}"
    if (run_dir / META).exists():
        other = read_meta(run_dir).get("thread_id", "another search")
        raise SolveInputError(f"{run_dir} already holds the search {other}: continue it with "
                              f"--resume {run_dir}, or choose another --out")
    return SolvePlan(
        problem=request.problem, problem_text=None if narrowed == text else narrowed,
        run_dir=run_dir, thread_id=thread_id, resume=False,
        minutes=DEFAULT_MINUTES if minutes is None else minutes,
        branches=request.branches or DEFAULT_BRANCHES, rounds=request.rounds,
        target_speedup=request.target_speedup)


def _resumed(request: SolveRequest, text: str, minutes: float | None) -> SolvePlan:
    """The plan that continues a run: rounds, branches and the problem are the run's own (they
    are in its checkpoint); a flag may repeat them but not change them. `--budget` is time
    added to the run (graphs/runner.py: what it had left first, then this much more)."""
    assert request.resume is not None
    if request.backend is not None:
        raise SolveInputError("--backend cannot be given with --resume: the run continues with "
                              "the problem as it started")
    run_dir = find_run(request.resume, request.out)
    recorded = read_meta(run_dir)
    if not recorded.get("thread_id"):
        raise SolveInputError(f"{run_dir}/{META} is unreadable or names no thread id")
    _same_problem(request.problem, text, recorded, run_dir)
    kept = {"rounds": (request.rounds, "--rounds"), "branches": (request.branches, "--branches")}
    for key, (given, flag) in kept.items():
        if given is not None and given != recorded.get(key):
            raise SolveInputError(
                f"{flag} cannot change when resuming: the run keeps the {key} it started with "
                f"({recorded.get(key)}); drop {flag}")
    return SolvePlan(
        problem=request.problem, problem_text=None, run_dir=run_dir,
        thread_id=str(recorded["thread_id"]), resume=True,
        minutes=float(recorded.get("minutes") or DEFAULT_MINUTES),
        branches=int(recorded.get("branches") or DEFAULT_BRANCHES),
        rounds=recorded.get("rounds"),
        target_speedup=(request.target_speedup if request.target_speedup is not None
                        else recorded.get("target_speedup")), more_minutes=minutes)


def _problem_name(path: Path) -> str:
    """The file's stem, or its folder's name for the examples' `<name>/problem.py` layout."""
    folder = path.resolve().parent.name
    return folder if path.stem == "problem" and folder else path.stem


def _minutes(budget: str | None) -> float | None:
    if budget is None:
        return None
    try:
        return parse_duration(budget)
    except ValueError as exc:
        raise SolveInputError(f"--budget: {exc}") from None


def _problem_text(path: Path) -> str:
    try:
        text = read_source(path, "problem")["text"]
    except BadInput as exc:
        raise SolveInputError(str(exc)) from None
    error = structure_error(text, str(path))
    if error:
        raise SolveInputError(error)
    return text


def restrict_backends(text: str, path: str, backend: str | None) -> str:
    """The problem text with `KERNEL_AGENT["backends"]` narrowed to `backend`.

    The verifier and the model's prompt both read the allowed backends from the problem, so
    narrowing them there restricts both. The literal dict is rewritten in place (or added), the
    rest of the file is left byte for byte.
    """
    if backend is None:
        return text
    if backend not in BACKEND_CHOICES:
        raise SolveInputError(f"--backend must be one of {', '.join(BACKEND_CHOICES)}, "
                              f"not {backend!r}")
    allowed = backends_of(text)
    if backend not in allowed:
        raise SolveInputError(f"--backend {backend}: the problem {path} allows only "
                              f"{', '.join(allowed)} (its KERNEL_AGENT['backends'])")
    if tuple(allowed) == (backend,):
        return text
    node = _metadata_node(text)
    if node is None:
        return text.rstrip("\n") + f"\n\n\nKERNEL_AGENT = {{'backends': [{backend!r}]}}\n"
    try:
        metadata = ast.literal_eval(node)
    except ValueError:
        metadata = None
    if not isinstance(metadata, dict):
        raise SolveInputError(f"--backend needs the KERNEL_AGENT of {path} to be a plain dict "
                              "literal; narrow its 'backends' there instead")
    if isinstance(node, ast.Dict):  # keep the file's own layout: replace only the value
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and key.value == "backends":
                return _replace_node(text, value, json.dumps([backend]))
    metadata["backends"] = [backend]
    lines = "".join(f"    {key!r}: {value!r},\n" for key, value in metadata.items())
    return _replace_node(text, node, "{\n" + lines + "}")


def _metadata_node(text: str) -> ast.expr | None:
    """The value assigned to the module-level KERNEL_AGENT, if any."""
    for statement in ast.parse(text).body:
        if isinstance(statement, ast.Assign):
            targets, value = statement.targets, statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            targets, value = [statement.target], statement.value
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == "KERNEL_AGENT" for t in targets):
            return value
    return None


def _replace_node(text: str, node: ast.expr, replacement: str) -> str:
    """`text` with the source of `node` replaced (ast offsets are UTF-8 byte columns)."""
    data = text.encode()
    starts = [0]
    for line in data.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    assert node.end_lineno is not None and node.end_col_offset is not None
    begin = starts[node.lineno - 1] + node.col_offset
    end = starts[node.end_lineno - 1] + node.end_col_offset
    return (data[:begin] + replacement.encode() + data[end:]).decode()


def find_run(name: str, out: Path | None) -> Path:
    """The run directory `--resume NAME` means: a directory holding run.json, or the thread id
    (or its first characters, as in the default directory name) of a run under --out or runs/."""
    given = Path(name)
    if (given / META).is_file():
        return given
    if given.is_dir():
        raise SolveInputError(f"{given} holds no run to resume (no {META})")
    places = [out] if out is not None else sorted(RUNS.glob("*")) if RUNS.is_dir() else []
    matches = []
    for place in places:
        if (place / META).is_file():
            thread_id = str(read_meta(place).get("thread_id", ""))
            if thread_id == name or (len(name) >= 6 and thread_id.startswith(name)):
                matches.append(place)
    where = str(out) if out is not None else f"{RUNS}/"
    if not matches:
        raise SolveInputError(f"no run to resume for {name!r}: pass its run directory "
                              f"(e.g. {RUNS}/<problem>-<id>) or its thread id (looked in {where})")
    if len(matches) > 1:
        raise SolveInputError(f"{name!r} matches several runs ({', '.join(map(str, matches))}); "
                              "pass the run directory")
    return matches[0]


def read_meta(run_dir: Path) -> dict[str, Any]:
    """run.json of `run_dir` ({} when missing or unreadable), without creating the directory."""
    try:
        meta = json.loads((run_dir / META).read_text())
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _same_problem(problem: Path, text: str, recorded: dict[str, Any], run_dir: Path) -> None:
    """A resumed run continues the problem it started with; refuse a different one."""
    earlier = recorded.get("problem_path")
    if earlier is None:
        raise SolveInputError(f"{run_dir}/{META} names no problem: it is not a solve run")
    earlier_path = Path(earlier)
    if earlier_path.resolve() == problem.resolve():
        return
    try:
        if earlier_path.read_text() == text:
            return
    except (OSError, UnicodeDecodeError):
        pass
    raise SolveInputError(f"{run_dir} is a search for {earlier}, not {problem}: resume it with "
                          f"`kernel-agent solve {earlier} --resume {run_dir}`")
