"""Which Triton kernels a candidate launches, and with what arguments: found by running it.

A kernel's compiled form depends on its launch (argument dtypes and alignment, integer
specialisation, constexprs, num_warps, num_stages), so the compile tool runs the candidate once
on the problem's inputs and records every launch. On a CPU machine the run happens under Triton's
interpreter, which cannot share a Python with the compiler (see compiler.py), so launches travel
as JSON descriptions and are turned back into stand-in arguments (tensors of the same dtype and
alignment) where the compiler runs. `python -m kernel_agent.tools.launches` records them in a
fresh Python.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

MAX_DISTINCT_PER_KERNEL = 16
ALIGN_MODULUS = 128


class UnsupportedArgument(Exception):
    """A launch argument whose kind cannot be described for recompilation."""


def describe(value: Any) -> Any:
    """A JSON description of a launch argument, holding what specialisation depends on."""
    import torch

    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, torch.Tensor):
        return {"tensor": str(value.dtype).removeprefix("torch."),
                "align": value.data_ptr() % ALIGN_MODULUS,
                "shape": list(value.shape), "stride": list(value.stride())}
    if isinstance(value, torch.dtype):
        return {"torch_dtype": str(value).removeprefix("torch.")}
    if isinstance(value, tuple | list):
        return {"tuple": [describe(v) for v in value]}
    kind = type(value)
    module = kind.__module__ or ""
    if module.startswith("triton."):
        if kind.__name__ == "constexpr":
            return {"constexpr": describe(value.value)}
        if kind.__name__ == "dtype":
            return {"tl_dtype": str(value)}
        if dataclasses.is_dataclass(value):
            return {"object": f"{module}:{kind.__qualname__}",
                    "fields": {f.name: describe(getattr(value, f.name))
                               for f in dataclasses.fields(value)}}
    name = getattr(getattr(value, "fn", None), "__name__", None)
    if name and hasattr(value, "run"):
        return {"jit": name}
    return {"unsupported": f"{module}.{kind.__qualname__}"}


def rebuild(description: Any, namespace: dict[str, Any]) -> Any:
    """A stand-in for a described argument; `namespace` resolves JIT functions by name."""
    import torch
    import triton.language as tl

    if not isinstance(description, dict):
        return description
    if "tensor" in description:
        dtype = getattr(torch, description["tensor"])
        itemsize = torch.empty((), dtype=dtype).element_size()
        buffer = torch.empty(2 * ALIGN_MODULUS // itemsize + 1, dtype=dtype)
        shift = (description["align"] - buffer.data_ptr()) % ALIGN_MODULUS
        return buffer[shift // itemsize:]
    if "torch_dtype" in description:
        return getattr(torch, description["torch_dtype"])
    if "tuple" in description:
        return tuple(rebuild(v, namespace) for v in description["tuple"])
    if "constexpr" in description:
        return tl.constexpr(rebuild(description["constexpr"], namespace))
    if "tl_dtype" in description:
        return tl.dtype(description["tl_dtype"])
    if "object" in description:
        module_name, _, qualname = description["object"].partition(":")
        kind: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            kind = getattr(kind, part)
        return kind(**{k: rebuild(v, namespace) for k, v in description["fields"].items()})
    if "jit" in description:
        if description["jit"] not in namespace:
            raise UnsupportedArgument(f"JIT function {description['jit']} is not a module global")
        return namespace[description["jit"]]
    raise UnsupportedArgument(f"an argument of type {description.get('unsupported')}")


class LaunchRecorder:
    """Wraps each kernel's `run` so every launch is described before it happens.

    Wrapping `run` rather than adding a pre-run hook keeps num_warps and num_stages: the
    interpreter drops those before it calls hooks. Autotuned kernels are covered because the
    autotuner launches the inner kernel through the same `run`.
    """

    def __init__(self, kernels: list[Any]) -> None:
        self.launches: list[dict[str, Any]] = []
        self.index: dict[str, int] = {}
        self.order = 0
        self.wrapped: list[tuple[Any, bool, Any]] = []
        for kernel in kernels:
            had_own = "run" in vars(kernel)
            self.wrapped.append((kernel, had_own, vars(kernel).get("run")))
            kernel.run = self.wrap(kernel, kernel.run)

    def wrap(self, kernel: Any, original: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, grid: Any, warmup: bool, **kwargs: Any) -> Any:
            if not warmup:
                self.record(kernel, args, kwargs, grid)
            return original(*args, grid=grid, warmup=warmup, **kwargs)
        return run

    def record(self, kernel: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
               grid: Any) -> None:
        fn = kernel.fn
        name = fn.__name__
        parameters = inspect.signature(fn).parameters
        options = {k: v for k, v in kwargs.items() if k not in parameters}
        try:
            bound = inspect.signature(fn).bind(
                *args, **{k: v for k, v in kwargs.items() if k in parameters})
        except TypeError as exc:
            launch = {"kernel": name, "error": f"arguments do not match the kernel: {exc}"}
        else:
            launch = {"kernel": name,
                      "args": {k: describe(v) for k, v in bound.arguments.items()},
                      "options": {k: v for k, v in options.items()
                                  if v is None or isinstance(v, bool | int | float | str)},
                      "grid": grid_size(grid, {**bound.arguments, **kwargs})}
        self.order += 1
        key = json.dumps(launch, sort_keys=True)
        if key in self.index:
            entry = self.launches[self.index[key]]
            entry["count"] += 1
            entry["last"] = self.order
            return
        if sum(1 for e in self.launches if e["kernel"] == name) >= MAX_DISTINCT_PER_KERNEL:
            return
        self.index[key] = len(self.launches)
        self.launches.append({**launch, "count": 1, "last": self.order})

    def close(self) -> None:
        for kernel, had_own, value in self.wrapped:
            if had_own:
                kernel.run = value
            else:
                del kernel.run


def grid_size(grid: Any, meta: dict[str, Any]) -> list[int] | None:
    """The launch grid as integers, calling a grid function the way Triton does."""
    try:
        value = grid(meta) if callable(grid) else grid
        return [int(v) for v in value]
    except Exception:  # a grid we cannot evaluate is only missing from the report
        return None


def capture(options: dict[str, Any], workdir: Path) -> tuple[ModuleType | None, dict[str, Any]]:
    """Run the candidate once on the problem's inputs and describe its kernel launches.

    Returns the candidate module (None when it did not load) and a JSON-able result with
    `launches`, and `error` (the problem or candidate did not load) or `run_error` (it loaded
    but raised when built or run; the launches made before that are still there).
    """
    from kernel_agent.tools import integrity
    from kernel_agent.tools.problem import SpecError
    from kernel_agent.tools.verify import CandidateError, Verification

    verification = Verification(options, workdir)
    try:
        verification.load_problem()
        verification.take_snapshots()
    except SpecError as exc:
        return None, {"launches": [], "error": {"kind": "bad_problem", "message": str(exc),
                                                "file": exc.path, "line": exc.line}}
    try:
        verification.load_candidate()
    except CandidateError as exc:
        return None, {"launches": [], "error": error_of(exc)}
    recorder = LaunchRecorder(integrity.triton_kernels(verification.candidate_module))
    result: dict[str, Any] = {}
    try:
        verification.build_models()
        verification.call_candidate(verification.make_inputs(options["seed"]))
    except CandidateError as exc:
        result["run_error"] = error_of(exc)
    except SpecError as exc:
        result["error"] = {"kind": "bad_problem", "message": str(exc), "file": exc.path,
                           "line": exc.line}
    finally:
        recorder.close()
    result["launches"] = recorder.launches
    return verification.candidate_module, result


def error_of(exc: Any) -> dict[str, Any]:
    """A CandidateError as a dict; the file and line it names are fields, not message text."""
    message = re.sub(r"^candidate \S+?: ", "", exc.message_text())
    return {"kind": exc.kind, "message": message, "file": exc.file, "line": exc.line,
            "excerpt": exc.excerpt}


def main(argv: list[str]) -> int:
    """Child-process entry: capture under whatever TRITON_INTERPRET the parent set."""
    import tempfile

    request, result = (Path(p) for p in argv)
    options = json.loads(request.read_text())
    with tempfile.TemporaryDirectory(prefix="capture-") as tmp:
        _, answer = capture(options, Path(tmp))
    result.write_text(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
