"""On a GPU host: the judge's audit lands the candidate's outputs in device memory and compares
them there, with the reference kept or made again on the device after the candidate answered;
outputs compared against a reference in host memory are compared on the GPU a chunk at a time."""

from __future__ import annotations

import pytest
import torch

from kernel_agent.tools import compare as compare_module
from kernel_agent.tools.compare import compare

from ..tools.test_judge_audit import a_judgement, audited, without_reference

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("keep", [True, False], ids=["kept", "made-again"])
@pytest.mark.parametrize(("error", "passes"), [(0.0, True), (0.5, False)])
def test_the_audit_on_the_gpu(tmp_path, keep, error, passes):
    judgement = a_judgement(tmp_path)
    assert judgement.referee.device.type == "cuda"
    audit_set = judgement.audit_set()
    assert judgement.landing_device(audit_set.expected_bytes).type == "cuda"
    verdict = audited(judgement, audit_set if keep else without_reference(audit_set), error)
    assert verdict.passed is passes and verdict.audit["passed"] is passes


def test_device_outputs_against_a_host_reference_are_compared_on_the_gpu(monkeypatch):
    monkeypatch.setattr(compare_module, "CHUNK_ELEMENTS", 1 << 20)
    reference = torch.randn(3 << 20)
    candidate = reference.cuda()
    candidate[(5 << 19) + 7] += 1.0
    seen: list[torch.device] = []
    paired_chunks = compare_module.paired_chunks

    def watched(c: torch.Tensor, r: torch.Tensor):
        for pair in paired_chunks(c, r):
            seen.extend(t.device for t in pair)
            yield pair

    def not_on_a_gpu(*args):
        raise AssertionError("compared by torch operations, not by the kernel")

    monkeypatch.setattr(compare_module, "paired_chunks", watched)
    monkeypatch.setattr(compare_module, "torch_summary", not_on_a_gpu)
    trial = compare([candidate], [reference], 0, 1e-3, 1e-3, fused=True)
    # three chunks compared, and three again for the region of wrong elements
    assert len(seen) == 12 and all(device.type == "cuda" for device in seen)
    assert trial.mismatched == 1 and trial.worst_index == [(5 << 19) + 7]
    assert trial.bad_region == [[(5 << 19) + 7, (5 << 19) + 7]]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_comparison_kernel_agrees_with_torch_on_the_gpu(monkeypatch, dtype):
    """The kernel as compiled for the GPU, beside the same rule in torch operations, over
    several chunks holding every kind of value the rule treats apart."""
    monkeypatch.setattr(compare_module, "CHUNK_ELEMENTS", 1 << 22)
    torch.manual_seed(3)
    size = (5 << 22) + 1234
    reference = torch.randn(size, device="cuda").to(dtype)
    candidate = (reference.float() + 1e-3 * torch.randn(size, device="cuda")).to(dtype)
    inf, nan = float("inf"), float("nan")
    specials = [(nan, nan), (nan, 1.0), (1.0, nan), (inf, inf), (-inf, inf), (inf, 2.0),
                (3.0, inf), (0.0, 0.0), (5.0, 0.0), (1e6, -1e6)]
    for spot, (c, r) in zip(torch.randperm(size)[:len(specials)].tolist(), specials, strict=True):
        candidate[spot], reference[spot] = c, r
    for atol, rtol in ((1e-2, 1e-2), (0.0, 0.0), (1e-4, 0.0)):
        fused = compare_module.summary_of(candidate, reference, atol, rtol)
        plain = compare_module.torch_summary(candidate, reference, atol, rtol)
        assert fused.mismatched == plain.mismatched > 0
        assert (fused.nonfinite, fused.first_bad_at, fused.worst_at) == (
            plain.nonfinite, plain.first_bad_at, plain.worst_at)
        assert fused.max_abs_error == plain.max_abs_error
        assert fused.max_rel_error == pytest.approx(plain.max_rel_error, rel=1e-6)
        assert fused.worst_ratio == pytest.approx(plain.worst_ratio, rel=1e-6)


JUDGE = r"""
import json, torch
from kernel_agent.tools.verifier_kernels import JudgeKernels
kernels = JudgeKernels()
kernels.warm([torch.float32, torch.int64])
kernels.join()
x = torch.randn(10, device="cuda")
print(json.dumps({"ready": sorted(map(str, kernels.ready)), "files": kernels.for_candidates(),
                  "fp32": kernels.ready_for([x]), "fp16": kernels.ready_for([x, x.half()])}))
"""
HANDED_OVER = r"""
import json, os, sys, torch
from pathlib import Path
from kernel_agent.tools import compare
from kernel_agent.tools.compiled_store import file_names
from kernel_agent.tools.verify import use_verifier_kernels
files, folder, own_cache = json.loads(sys.stdin.read()), Path(sys.argv[1]), sys.argv[2]
os.environ["TRITON_CACHE_DIR"] = own_cache  # anything compiled here would land there
import triton
triton.runtime.driver.active.get_current_target()  # as a candidate's process starts
use_verifier_kernels(files, folder)
compare.torch_summary = lambda *args: sys.exit("compared with torch operations")
reference = torch.randn(compare.KERNEL_PAYS_FROM, device="cuda")
candidate = reference.clone()
candidate[12345] += 1.0
trial = compare.compare([candidate], [reference], 0, 1e-3, 1e-3)
print(json.dumps({"mismatched": trial.mismatched, "worst": trial.worst_index,
                  "given": sorted(file_names(folder)),
                  "compiled_here": sorted(file_names(Path(own_cache)))}))
"""


def test_the_judge_compiles_the_kernel_once_and_hands_it_to_candidates(tmp_path):
    """The judge's thread compiles the kernel for the dtypes it is given (others stay with
    torch), and a new process given its files compares with them, compiling nothing. Each side
    in a process of its own, as in a verification (and since a kernel this process compiled
    earlier would be found in its memory, leaving no files)."""
    import json
    import subprocess
    import sys

    judge = subprocess.run([sys.executable, "-c", JUDGE], capture_output=True, text=True,
                           timeout=300)
    assert judge.returncode == 0, judge.stderr[-3000:]
    made = json.loads(judge.stdout)
    assert made["ready"] == ["torch.float32"] and made["fp32"] and not made["fp16"]
    assert made["files"] and any("compare_blocks" in name for name in made["files"])
    run = subprocess.run(
        [sys.executable, "-c", HANDED_OVER, str(tmp_path / "given"), str(tmp_path / "own")],
        input=json.dumps(made["files"]), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    seen = json.loads(run.stdout)
    assert (seen["mismatched"], seen["worst"]) == (1, [12345])
    assert seen["given"] == sorted(made["files"]), "it compiled into the given folder"
    assert not [name for name in seen["compiled_here"] if "compare_blocks" in name]
