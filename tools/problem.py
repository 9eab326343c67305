"""Loading KernelBench-format problems and candidates, with errors that name the file and line.

A problem is a Python file with `class Model`, `get_inputs()` and `get_init_inputs()`, plus the
optional `KERNEL_AGENT` metadata dict and `get_small_inputs()` / `get_small_init_inputs()` for
CPU runs. A candidate is a Python file with `class ModelNew` taking the same constructor
arguments. Sources travel as text (so any sandbox can receive them) and are written to a private
directory before import, because Triton reads a kernel's source through `inspect`.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

METADATA_KEYS = {"atol", "rtol", "dtype", "backends", "request", "trials", "name"}
BACKENDS = {"triton", "cuda"}
DTYPES = {"float32", "float16", "bfloat16", "float64"}


# What a problem's or a candidate's own code can raise and end no further than its call: an
# exit or an interrupt it raises is its failure, not the process's end.
CODE_FAILURES = (Exception, SystemExit, KeyboardInterrupt)


class SpecError(Exception):
    """A problem or candidate file that cannot be used as given: the message says why and where."""

    def __init__(self, message: str, *, role: str, path: str, line: int | None = None) -> None:
        self.role, self.path, self.line = role, path, line
        where = f"{path}:{line}" if line else path
        super().__init__(f"{role} {where}: {message}")

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "path": self.path, "line": self.line, "message": str(self)}


@dataclass(frozen=True)
class Source:
    """A file's text and the name the user knows it by (used in every message)."""

    text: str
    path: str

    @classmethod
    def read(cls, path: str | Path) -> Source:
        return cls(Path(path).read_text(), str(path))

    def to_dict(self) -> dict[str, str]:
        return {"text": self.text, "path": self.path}


@dataclass
class Metadata:
    """The problem's optional `KERNEL_AGENT` dict, validated.

    `dtype` declares the precision the problem is written for (it picks the default tolerance
    and tells the model); inputs keep whatever dtype get_inputs() gives them.
    """

    atol: float | None = None
    rtol: float | None = None
    dtype: str | None = None
    backends: tuple[str, ...] = ("triton", "cuda")
    request: str = ""
    trials: int | None = None
    name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Problem:
    """A loaded reference problem."""

    module: ModuleType
    source: Source
    metadata: Metadata

    @property
    def model_class(self) -> type:
        return self.module.Model

    def init_inputs(self, small: bool) -> list[Any]:
        name = "get_small_init_inputs" if small and self.has("get_small_init_inputs") else (
            "get_init_inputs")
        return call_listing(self.module, name, self.source, want_tensors=False)

    def inputs(self, small: bool) -> list[Any]:
        return call_listing(self.module, "get_small_inputs" if small else "get_inputs",
                            self.source, want_tensors=True)

    def has(self, name: str) -> bool:
        return callable(getattr(self.module, name, None))


def write_private(source: Source, directory: Path, role: str) -> Path:
    """Write `source` under `directory/role/` keeping its base name, and return the file path."""
    target = directory / role
    target.mkdir(parents=True, exist_ok=True)
    path = target / (Path(source.path).name or f"{role}.py")
    path.write_text(source.text)
    return path


def import_source(source: Source, directory: Path, role: str) -> ModuleType:
    """Compile and execute `source` as a fresh module; syntax and import errors name the file."""
    try:
        compile(source.text, source.path, "exec")
    except SyntaxError as exc:
        raise SpecError(f"syntax error: {exc.msg}", role=role, path=source.path,
                        line=exc.lineno) from None
    path = write_private(source, directory, role)
    module_name = f"kernel_agent_{role}_{abs(hash(source.text)):x}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except CODE_FAILURES as exc:
        line = innermost_line(exc, str(path))
        raise SpecError(f"importing it raised {type(exc).__name__}: {exc}", role=role,
                        path=source.path, line=line) from exc
    return module


def innermost_line(exc: BaseException, filename: str) -> int | None:
    """The last line of `filename` in the exception's traceback, if any."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def load_problem(source: Source, directory: Path) -> Problem:
    """Import a problem file and check it has everything the verifier needs."""
    module = import_source(source, directory, "problem")
    require_class(module, "Model", source, "problem")
    for name in ("get_inputs", "get_init_inputs"):
        if not callable(getattr(module, name, None)):
            raise SpecError(f"missing function {name}()", role="problem", path=source.path)
    return Problem(module, source, parse_metadata(getattr(module, "KERNEL_AGENT", None), source))


def load_candidate(source: Source, directory: Path) -> type:
    """Import a candidate file and return its ModelNew class."""
    module = import_source(source, directory, "candidate")
    return require_class(module, "ModelNew", source, "candidate")


def require_class(module: ModuleType, name: str, source: Source, role: str) -> type:
    import torch

    cls = getattr(module, name, None)
    if cls is None:
        raise SpecError(f"missing class {name} (an nn.Module)", role=role, path=source.path)
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise SpecError(f"{name} must be a subclass of torch.nn.Module", role=role,
                        path=source.path, line=definition_line(cls))
    return cls


def definition_line(obj: object) -> int | None:
    try:
        return inspect.getsourcelines(obj)[1]  # type: ignore[arg-type]
    except (OSError, TypeError):
        return None


def parse_metadata(raw: object, source: Source) -> Metadata:
    """Validate `KERNEL_AGENT`; unknown keys are kept in `extra` for later tools."""
    if raw is None:
        return Metadata()
    line = first_line_matching(source.text, r"^KERNEL_AGENT\s*[:=]")

    def bad(message: str) -> SpecError:
        return SpecError(f"KERNEL_AGENT: {message}", role="problem", path=source.path, line=line)

    if not isinstance(raw, dict):
        raise bad(f"must be a dict, not {type(raw).__name__}")
    meta = Metadata(extra={k: v for k, v in raw.items() if k not in METADATA_KEYS})
    for key in ("atol", "rtol"):
        if key in raw:
            value = raw[key]
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise bad(f"{key} must be a non-negative number, not {value!r}")
            setattr(meta, key, float(value))
    if "dtype" in raw:
        if raw["dtype"] not in DTYPES:
            raise bad(f"dtype must be one of {sorted(DTYPES)}, not {raw['dtype']!r}")
        meta.dtype = raw["dtype"]
    if "backends" in raw:
        backends = raw["backends"]
        if isinstance(backends, str):
            backends = [backends]
        unknown = set(backends) - BACKENDS
        if not backends or unknown:
            raise bad(f"backends must be a non-empty subset of {sorted(BACKENDS)}, "
                      f"got {backends!r}")
        meta.backends = tuple(backends)
    if "trials" in raw:
        if not isinstance(raw["trials"], int) or raw["trials"] < 1:
            raise bad(f"trials must be a positive integer, not {raw['trials']!r}")
        meta.trials = raw["trials"]
    for key in ("request", "name"):
        if key in raw:
            if not isinstance(raw[key], str):
                raise bad(f"{key} must be a string")
            setattr(meta, key, raw[key])
    return meta


def excerpt(text: str, line: int | None, context: int = 2) -> str:
    """The lines around `line`, numbered, with the line itself marked."""
    if not line:
        return ""
    lines = text.splitlines()
    first, last = max(1, line - context), min(len(lines), line + context)
    return "\n".join(f"{'>' if n == line else ' '} {n:4d} | {lines[n - 1]}"
                     for n in range(first, last + 1))


def first_line_matching(text: str, pattern: str) -> int | None:
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(pattern, line):
            return number
    return None


def call_listing(module: ModuleType, name: str, source: Source, want_tensors: bool) -> list[Any]:
    """Call get_inputs-like `name`; its answer must be a list or tuple (of tensors, if asked)."""
    import torch

    fn = getattr(module, name, None)
    if not callable(fn):
        raise SpecError(f"missing function {name}()", role="problem", path=source.path)
    try:
        value = fn()
    except CODE_FAILURES as exc:
        raise SpecError(f"{name}() raised {type(exc).__name__}: {exc}", role="problem",
                        path=source.path, line=innermost_line(exc, module.__file__ or "")) from exc
    if not isinstance(value, list | tuple):
        raise SpecError(f"{name}() must return a list, not {type(value).__name__}",
                        role="problem", path=source.path, line=definition_line(fn))
    if want_tensors:
        if not any(isinstance(v, torch.Tensor) for v in value):
            raise SpecError(f"{name}() returned no tensors: {describe_values(value)}",
                            role="problem", path=source.path, line=definition_line(fn))
        for index, item in enumerate(value):
            if not isinstance(item, torch.Tensor | int | float | bool | None):
                raise SpecError(f"{name}()[{index}] is a {type(item).__name__}; inputs must be "
                                "tensors (or plain numbers)", role="problem", path=source.path,
                                line=definition_line(fn))
    return list(value)


def describe_values(values: list[Any] | tuple[Any, ...]) -> str:
    return "[" + ", ".join(type(v).__name__ for v in values) + "]"
