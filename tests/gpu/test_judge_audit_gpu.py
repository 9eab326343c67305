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
    closeness = compare_module.closeness

    def watched(c: torch.Tensor, r: torch.Tensor, atol: float, rtol: float):
        seen.append(r.device)
        return closeness(c, r, atol, rtol)

    monkeypatch.setattr(compare_module, "closeness", watched)
    trial = compare([candidate], [reference], 0, 1e-3, 1e-3)
    # three chunks compared, and three again for the region of wrong elements
    assert len(seen) == 6 and all(device.type == "cuda" for device in seen)
    assert trial.mismatched == 1 and trial.worst_index == [(5 << 19) + 7]
    assert trial.bad_region == [[(5 << 19) + 7, (5 << 19) + 7]]
