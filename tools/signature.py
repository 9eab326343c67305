"""Sandbox task: a problem's input signature (shapes, dtypes, constructor values) at no memory cost.

The problem module is imported and get_inputs() / get_init_inputs() are called under torch's meta
device, so a 4096 x 393216 input costs nothing and a problem whose inputs would not fit this
machine still has a signature. Runs in the sandbox: the reference is code like any other.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch

from kernel_agent.tools.problem import Source, SpecError, load_problem


def run(payload: dict[str, Any]) -> dict[str, Any]:
    """{"problem": {"text", "path"}} in; {"signature": {...}}, or None and the reason, out."""
    with tempfile.TemporaryDirectory(prefix="signature-") as tmp, torch.device("meta"):
        try:
            problem = load_problem(Source(**payload["problem"]), Path(tmp))
            init_inputs = problem.init_inputs(small=False)
            inputs = problem.inputs(small=False)
        except SpecError as exc:
            return {"signature": None, "reason": str(exc)}
    return {"signature": {"inputs": [describe(v) for v in inputs],
                          "init_inputs": [describe(v) for v in init_inputs]}}


def describe(value: Any) -> dict[str, Any]:
    """A JSON description of one input: tensors by shape and dtype, plain values as themselves."""
    if isinstance(value, torch.Tensor):
        return {"shape": list(value.shape), "dtype": str(value.dtype).removeprefix("torch.")}
    if value is None or isinstance(value, bool | int | float | str):
        return {"value": value}
    if isinstance(value, list | tuple):
        return {"items": [describe(v) for v in value]}
    return {"type": type(value).__name__}
