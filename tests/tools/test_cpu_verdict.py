"""On a machine without a GPU the verdict says what can be verified here: CUDA C++ needs a GPU
host, and inputs are CPU tensors (the real verifier under the Triton interpreter)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel_agent.agent.critic import diagnose
from kernel_agent.graphs.intake import system_prompt
from kernel_agent.sandbox import Sandbox
from kernel_agent.tools.check import verify_sources
from kernel_agent.tools.cpu_verdict import CPU_TENSORS, NEEDS_GPU_HOST
from kernel_agent.tools.host_tools import compile_sources
from tests.conftest import DATA

PROBLEM = DATA / "scale_add_problem.py"
CORRECT = (DATA / "scale_add_correct.py").read_text()
SIGNATURE = "def scale_add(x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:"
CUDA_CPP = '''import torch
from torch import nn
from torch.utils.cpp_extension import load_inline

SOURCE = """
__global__ void scale_add(const float* x, const float* b, float* y, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = 2.0f * x[i] + b[i];
}
torch::Tensor run(torch::Tensor x, torch::Tensor b) {
    auto y = torch::empty_like(x);
    int n = x.numel();
    scale_add<<<(n + 255) / 256, 256>>>(x.data_ptr<float>(), b.data_ptr<float>(),
                                        y.data_ptr<float>(), n);
    return y;
}
"""
DECLARATION = "torch::Tensor run(torch::Tensor x, torch::Tensor b);"
ext = load_inline("scale_add_ext", cpp_sources=DECLARATION, cuda_sources=SOURCE,
                  functions=["run"])


class ModelNew(nn.Module):
    def forward(self, x, b):
        return ext.run(x, b)
'''


def problem() -> dict[str, str]:
    return {"text": PROBLEM.read_text(), "path": str(PROBLEM)}


def verdict_of(text: str, sandbox: Sandbox):
    return verify_sources(problem(), {"text": text, "path": "candidate.py"}, sandbox=sandbox)


def test_cuda_cpp_on_a_cpu_machine_is_told_to_write_triton(sandbox: Sandbox, tmp_path: Path):
    verdict = verdict_of(CUDA_CPP, sandbox)
    assert verdict.device["type"] == "cpu" and verdict.status == "fail"
    assert verdict.error is not None and verdict.error.kind == "needs_gpu"
    assert verdict.error.message.startswith(NEEDS_GPU_HOST)
    assert NEEDS_GPU_HOST in verdict.summary()
    build = compile_sources(problem(), {"text": CUDA_CPP, "path": "candidate.py"},
                            sandbox=sandbox, artifacts_dir=tmp_path)
    assert build.error is not None and NEEDS_GPU_HOST in build.error.message


@pytest.mark.parametrize("gpu_only", [
    '    assert x.is_cuda and b.is_cuda, "inputs must be CUDA tensors"',
    "    x, b = x.cuda(), b.cuda()",
])
def test_a_triton_kernel_written_for_cuda_tensors_is_told_inputs_are_cpu_tensors(
        sandbox: Sandbox, gpu_only: str):
    verdict = verdict_of(CORRECT.replace(SIGNATURE, f"{SIGNATURE}\n{gpu_only}"), sandbox)
    assert verdict.error is not None and verdict.error.kind == "cpu_tensors"
    assert verdict.error.message.startswith(CPU_TENSORS)
    assert "The candidate raised: AssertionError" in verdict.error.message
    assert "CPU tensors" in diagnose(verdict, CORRECT).headline


def test_other_failures_keep_their_own_message(sandbox: Sandbox):
    raising = CORRECT.replace(SIGNATURE, f'{SIGNATURE}\n    assert x.numel() < 10, "too big"')
    verdict = verdict_of(raising, sandbox)
    assert verdict.error is not None and verdict.error.kind == "runtime_error"
    assert "too big" in verdict.error.message and "CPU tensors" not in verdict.error.message


def test_the_cpu_prompt_offers_triton_only_and_names_cpu_tensors():
    text = PROBLEM.read_text()
    cpu, gpu = system_prompt(text, gpu=False), system_prompt(text, gpu=True)
    assert "Allowed kernel backends: triton." in cpu
    assert "Allowed kernel backends: triton, cuda." in gpu
    assert "CPU tensors" in cpu and "x.is_cuda" in cpu and "CPU tensors" not in gpu


AUTOTUNED = CORRECT.replace("@triton.jit", """@triton.autotune(
    configs=[triton.Config({}, num_warps=2), triton.Config({}, num_warps=4)], key=["n"])
@triton.jit""")
LIBDEVICE = CORRECT.replace("2 * x + b", "2 * libdevice.abs(x) + b").replace(
    "import triton.language as tl", "import triton.language as tl\n"
    "from triton.language.extra.cuda import libdevice")


@pytest.mark.parametrize(("text", "said"), [
    (AUTOTUNED, "@triton.autotune cannot time several configs under Triton's interpreter"),
    (LIBDEVICE, "libdevice functions do not run under Triton's interpreter"),
])
def test_what_the_interpreter_cannot_run_is_named_as_needing_a_gpu(sandbox: Sandbox, text, said):
    verdict = verdict_of(text, sandbox)
    assert verdict.status == "fail" and verdict.error is not None, verdict.summary()
    assert verdict.error.kind == "needs_gpu" and said in verdict.error.message
