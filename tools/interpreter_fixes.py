"""Corrections to Triton's interpreter, made in a CPU verification before candidate code loads.

The interpreter keeps bfloat16 values as their raw 16 bits in uint16 arrays, and its `tl.dot`
multiplies those arrays as they are: the integers behind the bits, not the numbers (a correct
bf16 matmul comes out wrong by 1e10 and more). A GPU multiplies bf16 operands exactly and adds in
float32, so the interpreter's dot is given float32 operands made from the same bits, which is
what a GPU computes up to the order of the additions. A candidate's bf16 kernel is then judged
on the CPU as it would be on a GPU instead of failing for the interpreter's sake.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def bf16_bits_as_float32(bits: np.ndarray) -> np.ndarray:
    """bfloat16 values held as uint16 bits, as the float32 numbers they are (exactly)."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def install() -> None:
    """Give the interpreter's dot float32 operands for bf16 ones. Does nothing where this
    Triton has no such interpreter method, and never twice."""
    import triton.language as tl
    from triton.runtime import interpreter

    builder = getattr(interpreter, "InterpreterBuilder", None)
    handle = getattr(interpreter, "TensorHandle", None)
    original = getattr(builder, "create_dot", None)
    if handle is None or original is None or getattr(original, "fixes_bf16", False):
        return

    def as_float32(operand: Any) -> Any:
        if getattr(operand, "dtype", None) != tl.bfloat16:
            return operand
        return handle(bf16_bits_as_float32(operand.data), tl.float32)

    def create_dot(self: Any, a: Any, b: Any, d: Any, *args: Any, **kwargs: Any) -> Any:
        return original(self, as_float32(a), as_float32(b), d, *args, **kwargs)

    create_dot.fixes_bf16 = True  # type: ignore[attr-defined]
    builder.create_dot = create_dot
