"""The verifier's answer for one candidate: structured data for programs, short text for the model.

Everything here is plain dataclasses so a verdict crosses the sandbox boundary as JSON and comes
back unchanged (`Verdict.from_dict(v.to_dict()) == v`).
"""

from __future__ import annotations

import types
from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

Status = Literal["pass", "fail", "bad_input"]
Severity = Literal["reject", "review"]


def baseline_key(device: dict[str, Any]) -> str:
    """Baseline timings hold for one GPU model and one torch version."""
    return f"{device.get('name')}|torch {device.get('torch')}"


@dataclass
class ErrorInfo:
    """Why a stage failed: a kind the critic can act on, the message, and where in the source."""

    kind: str  # load_error, constructor_error, runtime_error, cuda_error, output_mismatch, ...
    message: str
    file: str | None = None
    line: int | None = None
    excerpt: str = ""


@dataclass
class Trial:
    """One correctness trial on fresh inputs."""

    seed: int
    passed: bool
    max_abs_error: float = 0.0
    max_rel_error: float = 0.0
    worst_index: list[int] | None = None
    worst_output: int = 0
    candidate_value: float | None = None
    reference_value: float | None = None
    mismatched: int = 0
    elements: int = 0
    first_bad_index: list[int] | None = None
    nonfinite: int = 0
    # Per dimension of the first wrong output, the [lowest, highest] index holding a wrong
    # element: the shape of the error ("columns 1024 and up") tells masking from arithmetic.
    bad_region: list[list[int]] | None = None
    bad_output_shape: list[int] | None = None


@dataclass
class Flag:
    """An integrity finding. `reject` fails the candidate; `review` is for a human to look at."""

    name: str
    reason: str
    severity: Severity = "reject"


def add_flag(flags: list[Flag], flag: Flag | None) -> None:
    """Add `flag` unless it is None or one of its name is there already (the first reason
    found stands)."""
    if flag is not None and all(f.name != flag.name for f in flags):
        flags.append(flag)


@dataclass
class Stats:
    """Timing of one callable, in milliseconds."""

    median_ms: float
    iqr_ms: float
    n: int
    min_ms: float


@dataclass
class Timing:
    """Candidate and baselines timed the same way, with the speedups they give."""

    candidate: Stats
    eager: Stats | None = None
    compiled: Stats | None = None
    speedup_eager: float | None = None
    speedup_compiled: float | None = None
    baseline_cached: bool = False
    baseline_seconds: float | None = None
    compile_error: str | None = None


@dataclass
class Verdict:
    """Everything the verifier learned about one candidate."""

    status: Status
    stage: str
    compiled: bool = False
    correct: bool | None = None
    error: ErrorInfo | None = None
    trials: list[Trial] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    timing: Timing | None = None
    not_measured: dict[str, str] = field(default_factory=dict)
    device: dict[str, Any] = field(default_factory=dict)
    # atol, rtol and, for outputs judged tighter, atol_by_output (tools/tolerance.py)
    tolerance: dict[str, float | dict[str, float]] = field(default_factory=dict)
    custom_kernels: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0
    wall_limit: dict[str, Any] = field(default_factory=dict)  # seconds, and how derived
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase (tools/phases.py)
    # The judge's check of a claimed pass on inputs the candidate's process never had
    # (tools/judge.py): passed, seed, elements, mismatched, max_abs_error, atol, rtol
    audit: dict[str, Any] = field(default_factory=dict)
    # A resident sandbox process's job count, and why it was started fresh (sandbox/resident.py)
    process: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status == "pass"

    @property
    def rejecting_flags(self) -> list[Flag]:
        return [f for f in self.flags if f.severity == "reject"]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        data = dict(data)
        if data.get("error"):
            data["error"] = ErrorInfo(**data["error"])
        data["trials"] = [Trial(**t) for t in data.get("trials", [])]
        data["flags"] = [Flag(**f) for f in data.get("flags", [])]
        if data.get("timing"):
            timing = dict(data["timing"])
            for key in ("candidate", "eager", "compiled"):
                if timing.get(key):
                    timing[key] = Stats(**timing[key])
            data["timing"] = Timing(**timing)
        return cls(**data)

    def summary(self) -> str:
        """A few lines a model can act on: what failed, where, by how much, and what was timed."""
        lines = [f"verdict: {self.status.upper()} (stage: {self.stage})"]
        if self.error:
            where = f" at {self.error.file}:{self.error.line}" if self.error.line else ""
            lines.append(f"error [{self.error.kind}]{where}: {self.error.message}")
            if self.error.excerpt:
                lines.append(self.error.excerpt)
        for number, trial in enumerate(self.trials, start=1):
            if trial.passed:
                continue
            lines.append(
                f"trial {number}/{len(self.trials)} (seed {trial.seed}): {trial.mismatched}/"
                f"{trial.elements} elements outside "
                f"tolerance; max abs err {trial.max_abs_error:.3g}, max rel err "
                f"{trial.max_rel_error:.3g}; worst at output {trial.worst_output} index "
                f"{trial.worst_index} (got {trial.candidate_value}, expected "
                f"{trial.reference_value}); first bad index {trial.first_bad_index}"
                + (f"; {trial.nonfinite} NaN/Inf where the reference is finite"
                   if trial.nonfinite else "")
                + (f"; wrong elements lie within index ranges {trial.bad_region} of shape "
                   f"{trial.bad_output_shape}" if trial.bad_region else "")
            )
        if self.trials and all(t.passed for t in self.trials):
            worst = max(t.max_abs_error for t in self.trials)
            lines.append(f"correct on {len(self.trials)} trials (max abs err {worst:.3g})")
        for flag in self.flags:
            lines.append(f"integrity flag {flag.name} ({flag.severity}): {flag.reason}")
        if self.timing:
            t = self.timing
            text = f"time: candidate {t.candidate.median_ms:.4g} ms (IQR {t.candidate.iqr_ms:.2g})"
            if t.eager and t.speedup_eager:
                text += f"; eager {t.eager.median_ms:.4g} ms -> {t.speedup_eager:.2f}x"
            if t.compiled and t.speedup_compiled:
                text += (f"; torch.compile {t.compiled.median_ms:.4g} ms -> "
                         f"{t.speedup_compiled:.2f}x")
            lines.append(text)
        if line := self.audit_line():
            lines.append(line)
        for what, why in self.not_measured.items():
            lines.append(f"not measured: {what}: {why}")
        return "\n".join(lines)

    def audit_line(self) -> str:
        """What the judge checked itself of a claimed pass (tools/judge.py), in a line."""
        audit = self.audit
        if not audit:
            return ""
        text = (f"judge's audit: {audit.get('elements', 0) - audit.get('mismatched', 0)} of "
                f"{audit.get('elements', 0)} elements right on inputs the candidate's process "
                f"never saw (seed {audit.get('seed')})")
        if "race_calls" in audit:
            text += (f"; {audit['race_calls']} calls on fresh inputs took "
                     f"{audit['race_ms_per_call']:.4g} ms each as the judge timed them")
        return text


def typed(cls: type, data: Any, path: str = "verdict") -> Any:
    """An instance of dataclass `cls` from JSON data whose every value is of the type its field
    names; ValueError naming the first that is not. A verdict that crosses from a process
    running candidate code (the claim) is read this way: a string where a number belongs would
    otherwise break whoever formats it later, far from the candidate."""
    if not isinstance(data, dict):
        raise ValueError(f"{path} is {type(data).__name__}, not an object")
    hints = get_type_hints(cls)
    unknown = sorted(set(data) - set(hints))
    if unknown:
        raise ValueError(f"{path} has no field {unknown[0]!r}")
    values = {name: of_type(value, hints[name], f"{path}.{name}") for name, value in data.items()}
    try:
        return cls(**values)
    except TypeError as exc:  # a field without a default left out
        raise ValueError(f"{path}: {exc}") from None


def of_type(value: Any, hint: Any, path: str) -> Any:
    """`value` checked against `hint` (the types verdicts use), dataclasses built."""
    origin, args = get_origin(hint), get_args(hint)
    if hint is Any:
        return value
    if is_dataclass(hint):
        return typed(hint, value, path)  # type: ignore[arg-type]
    if origin in (Union, types.UnionType):
        options = [option for option in args if option is not type(None)]
        if value is None and len(options) < len(args):
            return None
        if len(options) == 1:  # X | None: what is wrong inside X
            return of_type(value, options[0], path)
        for option in options:
            try:
                return of_type(value, option, path)
            except ValueError:
                continue
    elif origin is Literal:
        if isinstance(value, str) and value in args:
            return value
    elif origin is list:
        if isinstance(value, list):
            return [of_type(item, args[0], f"{path}[{i}]") for i, item in enumerate(value)]
    elif origin is dict:
        if isinstance(value, dict) and all(isinstance(key, str) for key in value):
            return {key: of_type(item, args[1], f"{path}.{key}") for key, item in value.items()}
    elif hint is type(None):
        if value is None:
            return value
    elif hint is float:
        if type(value) in (int, float):
            return float(value)
    elif type(value) is hint:  # bool, int, str: a bool is no int here
        return value
    raise ValueError(f"{path} is {type(value).__name__} {str(value)[:40]!r}, not {hint}")
