"""What a machine without a GPU can verify, said plainly in the verdict.

Without a GPU, Triton kernels run under the interpreter on CPU tensors, and CUDA C++ cannot be
built at all. Candidates written for a GPU fail here in ways whose raw messages mislead ("CUDA_HOME
environment variable is not set", a bare AssertionError from `assert x.is_cuda`, "Torch not
compiled with CUDA enabled"); this module replaces such an error with the reason and what to
write instead. Standard library only: the host applies it to verdicts (tools/check.py) and the
sandbox's CUDA build report uses the same words.
"""

from __future__ import annotations

import re
from dataclasses import replace

from kernel_agent.tools.verdict import ErrorInfo, Verdict

NEEDS_GPU_HOST = "CUDA C++ needs a GPU host; write Triton here"
CPU_TENSORS = ("inputs are CPU tensors here (no GPU; Triton runs under its interpreter): do not "
               "assert `x.is_cuda`, call `.cuda()` or allocate on device='cuda'; allocate like "
               "the inputs (`torch.empty_like(x)`, `device=x.device`)")
CUDA_CPP = re.compile(r"\bload_inline\b|\bcpp_extension\b|\bCUDA_HOME\b")
CUDA_ONLY_CALL = re.compile(r"\bis_cuda\b|\.cuda\(|['\"]cuda(?::\d+)?['\"]|torch\.cuda\.")
NO_CUDA_MESSAGE = re.compile(
    r"not compiled with CUDA|no NVIDIA driver|no CUDA GPUs|CUDA driver|CUDA_HOME", re.I)


def explain_cpu_failure(verdict: Verdict, candidate_text: str) -> Verdict:
    """The verdict, with a CPU machine's misleading error replaced by what it means."""
    error = verdict.error
    if error is None or verdict.device.get("type") != "cpu":
        return verdict
    line = _line(candidate_text, error.line)
    if CUDA_CPP.search(error.message) or (CUDA_CPP.search(candidate_text)
                                         and NO_CUDA_MESSAGE.search(error.message)):
        message = (f"{NEEDS_GPU_HOST}: this machine has no GPU or CUDA toolkit, so a "
                   "torch.utils.cpp_extension (load_inline) candidate cannot be built or run; "
                   f"the loader said: {_first_line(error.message)}")
        return replace(verdict, error=replace(error, kind="needs_gpu", message=message))
    if NO_CUDA_MESSAGE.search(error.message) or (
            "AssertionError" in error.message and CUDA_ONLY_CALL.search(line)):
        message = f"{CPU_TENSORS}. The candidate raised: {_first_line(error.message)}"
        return replace(verdict, error=ErrorInfo("cpu_tensors", message, error.file, error.line,
                                                error.excerpt))
    return verdict


def _line(text: str, number: int | None) -> str:
    lines = text.splitlines()
    return lines[number - 1] if number and 0 < number <= len(lines) else ""


def _first_line(message: str) -> str:
    return next((line.strip() for line in message.splitlines() if line.strip()), message)
