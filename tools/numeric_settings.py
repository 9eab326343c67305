"""torch's process-wide numeric settings: kept for the reference, checked after a candidate.

A candidate runs in the verifier's process, so a setting it changes (TF32 matmuls or
convolutions, reduced-precision reductions, the default dtype, cuDNN off or deterministic, an
SDPA backend off, another BLAS or linear-algebra library) would also change how the problem's
own code runs: its inputs, its reference outputs, the eager and torch.compile baselines.
Switching cuDNN off makes the eager baseline of a convolution many times slower; a TF32
reference judges a TF32 candidate against TF32 arithmetic.
So the verifier takes a snapshot before the candidate is imported, runs every piece of problem
code under it (`applied`) and names what the candidate changed (`changed`); a resident process
restores it before the next candidate (`restore`).

TF32 has two interfaces in recent torch (`allow_tf32` and the per-backend `fp32_precision`); once
a candidate has mixed them, reading the older one raises. Such a setting reads as `UNREADABLE`,
which counts as a change, and restoring sets the older interface before the newer one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import torch

Setting = tuple[Callable[[], Any], Callable[[Any], None]]


def _attribute(path: str) -> Setting | None:
    """Getter and setter of an attribute `torch.<path>`, if this torch has it."""
    *parents, name = path.split(".")
    owner: Any = torch
    for part in parents:
        owner = getattr(owner, part, None)
        if owner is None:
            return None
    if not hasattr(owner, name):
        return None
    return (lambda: getattr(owner, name)), (lambda value: setattr(owner, name, value))


def _functions(getter: str, setter: str, owner: Any = torch) -> Setting | None:
    get, put = getattr(owner, getter, None), getattr(owner, setter, None)
    return None if get is None or put is None else (get, put)


def _deterministic() -> Setting:
    def get() -> tuple[bool, bool]:
        return (torch.are_deterministic_algorithms_enabled(),
                torch.is_deterministic_algorithms_warn_only_enabled())

    def put(value: tuple[bool, bool]) -> None:
        torch.use_deterministic_algorithms(value[0], warn_only=value[1])
    return get, put


NEW_TF32 = ("backends.fp32_precision", "backends.cuda.matmul.fp32_precision",
            "backends.cudnn.fp32_precision", "backends.cudnn.conv.fp32_precision",
            "backends.cudnn.rnn.fp32_precision", "backends.mkldnn.fp32_precision",
            "backends.mkldnn.matmul.fp32_precision", "backends.mkldnn.conv.fp32_precision",
            "backends.mkldnn.rnn.fp32_precision")
LEGACY_TF32 = ("backends.cuda.matmul.allow_tf32", "backends.cudnn.allow_tf32")
OTHER_FLAGS = ("backends.cuda.matmul.allow_fp16_reduced_precision_reduction",
               "backends.cuda.matmul.allow_bf16_reduced_precision_reduction",
               "backends.cudnn.enabled", "backends.cudnn.benchmark",
               "backends.cudnn.deterministic")
SDPA_BACKENDS = ("flash", "mem_efficient", "math", "cudnn")


def _settings() -> dict[str, Setting]:
    # The older interface first: its setters also reset the per-backend values, so restoring
    # it before them leaves torch's two TF32 interfaces agreeing again.
    found: dict[str, Setting | None] = {"torch.get_float32_matmul_precision()": _functions(
        "get_float32_matmul_precision", "set_float32_matmul_precision")}
    found.update((f"torch.{path}", _attribute(path)) for path in LEGACY_TF32 + NEW_TF32)
    found.update((f"torch.{path}", _attribute(path)) for path in OTHER_FLAGS)
    found["torch.get_default_dtype()"] = _functions("get_default_dtype", "set_default_dtype")
    found["torch.are_deterministic_algorithms_enabled()"] = _deterministic()
    for backend in SDPA_BACKENDS:
        found[f"torch.backends.cuda.{backend}_sdp_enabled()"] = _functions(
            f"{backend}_sdp_enabled", f"enable_{backend}_sdp", torch.backends.cuda)
    for library in ("blas", "linalg"):  # one function reads (no argument) and sets
        preferred = getattr(torch.backends.cuda, f"preferred_{library}_library", None)
        if preferred is not None:
            found[f"torch.backends.cuda.preferred_{library}_library()"] = (preferred, preferred)
    return {name: setting for name, setting in found.items() if setting is not None}


SETTINGS = _settings()
UNREADABLE = "unreadable"


def snapshot() -> dict[str, Any]:
    """Every setting's current value (`UNREADABLE` where reading it raises)."""
    values = {}
    for name, (get, _) in SETTINGS.items():
        try:
            values[name] = get()
        except Exception:  # a torch that refuses to report a state it was put in
            values[name] = UNREADABLE
    return values


def restore(values: dict[str, Any]) -> None:
    """Put the settings back as `values` has them, in order, each only where it differs by
    then: one TF32 setter also sets the others, and setting one that already agrees can leave
    torch's two interfaces disagreeing."""
    for name, value in values.items():
        if value == UNREADABLE or name not in SETTINGS:
            continue
        get, put = SETTINGS[name]
        with suppress(Exception):
            if get() == value:
                continue
        with suppress(Exception):
            put(value)


def changed(before: dict[str, Any]) -> list[str]:
    """'name: before -> now' for every setting that differs from `before`."""
    now = snapshot()
    return [f"{name}: {before[name]} -> {now[name]}" for name in before
            if now.get(name) != before[name]]


@contextmanager
def applied(values: dict[str, Any]) -> Iterator[None]:
    """Run the block under `values`, then put back whatever was set before it."""
    current = snapshot()
    if current == values:
        yield
        return
    restore(values)
    try:
        yield
    finally:
        restore(current)
