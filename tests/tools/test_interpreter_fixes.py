"""Triton's interpreter multiplies bf16 operands of `tl.dot` as the integers behind their bits;
the CPU verifier gives it the float32 numbers instead, so a bf16 matmul kernel is judged on the
CPU as a GPU would judge it: right when right, wrong when wrong."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from kernel_agent.tools.check import check_files
from kernel_agent.tools.interpreter_fixes import bf16_bits_as_float32

from ..conftest import DATA

CASES = DATA / "interpreter"
KERNEL = CASES / "bf16_matmul_correct.py"


def test_bf16_bits_become_the_same_numbers_in_float32() -> None:
    values = torch.cat([torch.randn(4096) * 1e3, torch.tensor([0.0, -0.0, 1e-40, 3e38])])
    bf16 = values.to(torch.bfloat16)
    as_float = bf16_bits_as_float32(bf16.view(torch.int16).numpy().view("uint16"))
    assert torch.equal(torch.from_numpy(as_float), bf16.float())


def test_the_interpreter_s_bf16_dot_is_right_once_fixed() -> None:
    """In a fresh interpreter-mode Python: wrong without the fix (else Triton mended it and the
    fix is moot), right with it."""
    script = (
        "import os, sys\n"
        "os.environ['TRITON_INTERPRET'] = '1'\n"
        "import importlib.util, torch\n"
        f"spec = importlib.util.spec_from_file_location('k', {str(KERNEL)!r})\n"
        "if sys.argv[1] == 'fixed':\n"
        "    from kernel_agent.tools import interpreter_fixes\n"
        "    interpreter_fixes.install(); interpreter_fixes.install()\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "a = torch.randn(64, 96, dtype=torch.bfloat16)\n"
        "b = torch.randn(96, 64, dtype=torch.bfloat16)\n"
        "error = (module.ModelNew()(a, b).float() - (a @ b).float()).abs().max().item()\n"
        "print(error)\n")
    errors = {how: float(subprocess.run([sys.executable, "-c", script, how], check=True,
                                        capture_output=True, text=True).stdout)
              for how in ("as shipped", "fixed")}
    assert errors["fixed"] <= 0.5  # a few bf16 steps at sums of about 30
    if errors["as shipped"] <= 0.5:
        pytest.skip("this Triton's interpreter multiplies bf16 right by itself")


def test_a_bf16_matmul_kernel_is_judged_right_or_wrong_on_the_cpu() -> None:
    problem = CASES / "bf16_matmul_problem.py"
    right = check_files(problem, CASES / "bf16_matmul_correct.py", trials=2, timing=False)
    assert right.status == "pass", right.summary()
    wrong = check_files(problem, CASES / "bf16_matmul_short_k.py", trials=2, timing=False)
    assert wrong.status == "fail" and wrong.correct is False, wrong.summary()


def test_torch_doing_the_product_behind_a_launched_kernel_fails_on_the_cpu() -> None:
    """No profiler times kernels on a CPU; torch's flop counter sees its own matrix products,
    so a kernel launched for show does not make torch's work the candidate's."""
    verdict = check_files(CASES / "bf16_matmul_problem.py",
                          CASES / "bf16_matmul_torch_behind_noop.py", trials=1, timing=False)
    assert verdict.status == "fail", verdict.summary()
    flag = next(f for f in verdict.flags if f.name == "custom_kernels_minor")
    assert flag.severity == "reject" and "100% of the reference's matrix arithmetic" in flag.reason
