"""Compiler messages cut to the candidate's line: nvcc output and message clean-up."""

from __future__ import annotations

from kernel_agent.tools import compile_errors
from tests.tools.helpers import DATA

CANDIDATE = '''import torch
from torch.utils.cpp_extension import load_inline

CUDA_SOURCE = r"""
__global__ void copy_kernel(const float* x, float* y, long n) {
    long i = (long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = x[i] * scale;
}
"""
'''

# What torch.utils.cpp_extension raises when nvcc fails (ninja log included).
NINJA_OUTPUT = (DATA / "nvcc_error.txt").read_text()


def test_nvcc_error_is_located_in_the_candidate() -> None:
    info = compile_errors.nvcc_error(NINJA_OUTPUT, CANDIDATE, "cand.py")
    assert info.line == 7 and info.file == "cand.py"
    assert info.message.splitlines()[0].endswith('error: identifier "scale" is undefined')
    assert "nvcc --generate-dependencies" not in info.message
    assert ">    7 |" in info.excerpt


def test_unlocatable_errors_keep_only_error_lines() -> None:
    info = compile_errors.nvcc_error("ld: something\nfatal error: cuda_runtime.h: No such file\n",
                                     CANDIDATE, "cand.py")
    assert info.line is None and info.message == "fatal error: cuda_runtime.h: No such file"


def test_functions_are_found_by_their_dedented_source() -> None:
    text = "x = 1\n\n\nclass K:\n    def f(a):\n        return a\n"
    assert compile_errors.function_start("def f(a):\n    return a\n", text) == 5
    assert compile_errors.function_start("def g():\n    pass\n", text) is None


def test_messages_read_like_python_exceptions_and_are_cut() -> None:
    assert compile_errors.clean_message("AssertionError('shapes differ')") == (
        "AssertionError: shapes differ")
    assert compile_errors.clean_message("plain text") == "plain text"
    assert compile_errors.cut("x" * 2000).endswith("... (cut)")
    assert len(compile_errors.cut("x" * 2000)) < 820
