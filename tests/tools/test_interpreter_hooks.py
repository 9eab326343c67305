"""Hooks that reach into every frame or torch operation of the verifier's process
(tools/integrity.py): each is seen while set and gone once cleared. The verifier rejects a
candidate that leaves one set (tests/test_verifier_cpu.py, with real candidates)."""

from __future__ import annotations

import sys
import threading

import pytest
import torch
from torch.overrides import TorchFunctionMode

from kernel_agent.tools import integrity


def ignore(frame, event, arg):
    return None


@pytest.mark.parametrize(("set_hook", "clear", "name"), [
    (lambda: sys.settrace(ignore), lambda: sys.settrace(None), "sys.settrace"),
    (lambda: sys.setprofile(ignore), lambda: sys.setprofile(None), "sys.setprofile"),
    (lambda: threading.settrace(ignore), lambda: threading.settrace(None), "threading.settrace"),
    # False: Dynamo's run-only mode, a frame-evaluation hook that compiles nothing new
    (lambda: torch._C._dynamo.eval_frame.set_eval_frame(False),
     lambda: torch._C._dynamo.eval_frame.set_eval_frame(None),
     "torch._C._dynamo.eval_frame.set_eval_frame"),
])
def test_each_interpreter_hook_is_seen_while_set(set_hook, clear, name) -> None:
    before = integrity.interpreter_hooks()
    set_hook()
    try:
        seen = integrity.interpreter_hooks()
        flag = integrity.interpreter_hook_flag(before, "in this test")
    finally:
        clear()
    assert name in seen and flag is not None and name in flag.reason
    assert integrity.interpreter_hooks() == before


def test_a_torch_mode_is_seen_while_entered() -> None:
    before = integrity.active_torch_modes()
    mode = TorchFunctionMode()
    mode.__enter__()
    try:
        flag = integrity.torch_mode_flag(before, "in this test")
    finally:
        mode.__exit__(None, None, None)
    assert flag is not None and "TorchFunctionMode" in flag.reason
    assert integrity.torch_mode_flag(before, "after leaving it") is None
