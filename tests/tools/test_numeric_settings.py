"""torch's process-wide numeric settings (tools/numeric_settings.py): a candidate that changes them
is named, the problem's own code still runs under the settings it was loaded with, and a resident
process hands the next candidate the settings it started with."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from kernel_agent.sandbox import Sandbox
from kernel_agent.tools import numeric_settings
from kernel_agent.tools.check import check_files
from tests.sandbox.helpers import resident_sandbox

# The problem's code fails loudly if it runs under anything but torch's defaults: get_inputs
# makes float32 tensors only under the default dtype, and the reference checks cuDNN and the
# matmul precision itself.
PROBLEM = '''
import torch
from torch import nn


class Model(nn.Module):
    def forward(self, x):
        assert x.dtype == torch.float32, f"inputs made as {x.dtype}"
        assert torch.backends.cudnn.enabled, "cuDNN was switched off"
        assert torch.get_float32_matmul_precision() == "highest", "TF32 matmuls were allowed"
        assert not torch.backends.cudnn.deterministic
        return x * 2


def get_inputs():
    return [torch.randn(257)]


def get_init_inputs():
    return []
'''
# A candidate: these imports, what it does as it is imported, then a doubling kernel.
IMPORTS = '''
import torch
import triton
import triton.language as tl
from torch import nn
'''
DOUBLING = '''

@triton.jit
def double_kernel(x_ptr, y_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    tl.store(y_ptr + offsets, 2 * tl.load(x_ptr + offsets, mask=mask), mask=mask)


class ModelNew(nn.Module):
    def forward(self, x):
        y = torch.empty_like(x)
        double_kernel[(triton.cdiv(x.numel(), 256),)](x, y, x.numel(), BLOCK=256)
        return y
'''
# Changes three settings as it is imported; its own answer is right whatever they are.
CHANGES_SETTINGS = IMPORTS + '''
torch.backends.cudnn.enabled = False
torch.set_float32_matmul_precision("medium")
torch.backends.cudnn.deterministic = True
''' + DOUBLING
# Fails as it is imported unless it finds torch's defaults.
EXPECTS_DEFAULTS = IMPORTS + '''
assert torch.get_default_dtype() == torch.float32, torch.get_default_dtype()
assert torch.backends.cudnn.enabled
assert torch.get_float32_matmul_precision() == "highest"
''' + DOUBLING


@pytest.fixture
def restored() -> Iterator[dict]:
    """This process's settings, put back after the test whatever it changed."""
    before = numeric_settings.snapshot()
    yield before
    numeric_settings.restore(before)


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


def test_changes_are_named_and_restored_through_both_tf32_interfaces(restored) -> None:
    torch.set_default_dtype(torch.float64)
    torch.backends.cudnn.enabled = False
    torch.backends.cuda.matmul.allow_tf32 = True  # the older interface ...
    if hasattr(torch.backends.cuda.matmul, "fp32_precision"):
        torch.backends.cudnn.conv.fp32_precision = "ieee"  # ... mixed with the newer one
    names = {change.split(":")[0] for change in numeric_settings.changed(restored)}
    assert {"torch.get_default_dtype()", "torch.backends.cudnn.enabled"} <= names
    assert any("tf32" in name or "fp32_precision" in name for name in names), names

    with numeric_settings.applied(restored):
        assert numeric_settings.changed(restored) == []
        assert torch.get_default_dtype() == torch.float32
    assert torch.get_default_dtype() == torch.float64, "the block's caller gets its own back"

    numeric_settings.restore(restored)
    assert numeric_settings.changed(restored) == []
    # Readable again through the older interface, which raises while the two disagree.
    legacy = "torch.backends.cuda.matmul.allow_tf32"
    assert torch.backends.cuda.matmul.allow_tf32 == restored[legacy]
    assert torch.get_float32_matmul_precision() == "highest"


def test_the_reference_runs_under_the_problems_settings_and_the_change_is_flagged(
        tmp_path) -> None:
    problem = write(tmp_path, "problem.py", PROBLEM)
    verdict = check_files(problem, write(tmp_path, "changes.py", CHANGES_SETTINGS))
    assert verdict.status == "pass", verdict.summary()
    flags = {flag.name: flag for flag in verdict.flags}
    flag = flags["numeric_settings_changed"]
    assert flag.severity == "review"
    for setting in ("torch.backends.cudnn.enabled", "torch.get_float32_matmul_precision()",
                    "torch.backends.cudnn.deterministic"):
        assert setting in flag.reason, flag.reason


def test_inputs_are_made_under_the_problems_default_dtype(tmp_path) -> None:
    """torch.set_default_dtype also rebinds torch.Storage, which the patch check rejects; the
    trials still ran, on float32 inputs the reference accepted."""
    problem = write(tmp_path, "problem.py", PROBLEM)
    candidate = CHANGES_SETTINGS.replace("torch.backends.cudnn.enabled = False",
                                         "torch.set_default_dtype(torch.float64)")
    verdict = check_files(problem, write(tmp_path, "float64.py", candidate))
    assert verdict.correct is True and len(verdict.trials) == 5, verdict.summary()
    flags = {flag.name: flag for flag in verdict.flags}
    assert "torch.get_default_dtype()" in flags["numeric_settings_changed"].reason


def test_a_candidate_that_leaves_torchs_defaults_is_not_flagged(tmp_path) -> None:
    problem = write(tmp_path, "problem.py", PROBLEM)
    verdict = check_files(problem, write(tmp_path, "plain.py", EXPECTS_DEFAULTS))
    assert verdict.status == "pass", verdict.summary()
    assert "numeric_settings_changed" not in {flag.name for flag in verdict.flags}


@pytest.fixture
def resident() -> Iterator[Sandbox]:
    yield from resident_sandbox()


def test_a_resident_process_hands_the_next_candidate_torchs_defaults(tmp_path,
                                                                     resident) -> None:
    problem = write(tmp_path, "problem.py", PROBLEM)
    first = check_files(problem, write(tmp_path, "changes.py", CHANGES_SETTINGS),
                        sandbox=resident)
    process = resident.pool.servers[0].kept
    second = check_files(problem, write(tmp_path, "plain.py", EXPECTS_DEFAULTS),
                         sandbox=resident)
    assert first.status == "pass" and second.status == "pass", (first.summary(),
                                                                 second.summary())
    assert process is not None and resident.pool.servers[0].kept == process, \
        "the same process verified both"
    assert second.process["job"] == first.process["job"] + 1, (first.process, second.process)
