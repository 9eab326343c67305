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
# What Triton's interpreter cannot do, seen in the candidate's error and source.
NO_DRIVER = re.compile(r"\d+ active drivers")
AUTOTUNE = re.compile(r"\bautotune\b")
LIBDEVICE = re.compile(r"\blibdevice\b")
INTERPRETER_SLIP = re.compile(r"InterpreterError|forget to add @triton\.jit|NoneType")
INTERPRETER_LIMITS = {
    "autotune": ("@triton.autotune cannot time several configs under Triton's interpreter (there "
                 "is no GPU driver to time them with): verify on a GPU host, or give one config "
                 "to check correctness here"),
    "libdevice": ("tl.extra.cuda.libdevice functions do not run under Triton's interpreter (no "
                  "GPU): verify on a GPU host, or use the tl.math / tl functions of the same "
                  "name (tl.math.erf, tl.exp, ...) to check correctness here"),
}


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
    limit = interpreter_limit(error.message, candidate_text)
    if limit is not None:
        message = f"{INTERPRETER_LIMITS[limit]}. The interpreter said: {_first_line(error.message)}"
        return replace(verdict, error=replace(error, kind="needs_gpu", message=message))
    if NO_CUDA_MESSAGE.search(error.message) or (
            "AssertionError" in error.message and CUDA_ONLY_CALL.search(line)):
        message = f"{CPU_TENSORS}. The candidate raised: {_first_line(error.message)}"
        return replace(verdict, error=ErrorInfo("cpu_tensors", message, error.file, error.line,
                                                error.excerpt))
    return verdict


def interpreter_limit(message: str, candidate_text: str) -> str | None:
    """Which of Triton's interpreter's limits the candidate ran into, if its error says so."""
    if NO_DRIVER.search(message) and AUTOTUNE.search(candidate_text):
        return "autotune"
    if INTERPRETER_SLIP.search(message) and LIBDEVICE.search(candidate_text):
        return "libdevice"
    return None


def _line(text: str, number: int | None) -> str:
    lines = text.splitlines()
    return lines[number - 1] if number and 0 < number <= len(lines) else ""


def _first_line(message: str) -> str:
    return next((line.strip() for line in message.splitlines() if line.strip()), message)
