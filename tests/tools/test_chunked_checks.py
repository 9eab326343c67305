"""The verifier's whole-output checks work a chunk at a time, so that a multi-gigabyte output
(KernelBench's largest elementwise problems are 6 GiB) never needs a float64 copy of itself: the
answers must be those of the same check on the whole tensor at once."""

from __future__ import annotations

import json

import pytest
import torch

from kernel_agent.tools import compare, tolerance, trivial
from kernel_agent.tools.integrity import Fingerprint
from kernel_agent.tools.tolerance import atol_of

CHUNK = 1000


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(compare, "CHUNK_ELEMENTS", CHUNK)


def test_chunks_cover_every_element_once(small_chunks) -> None:
    t = torch.arange(10_500).reshape(105, 100)
    chunks = list(compare.flat_chunks(t))
    assert [c.numel() for c in chunks] == [CHUNK] * 10 + [500]
    assert torch.equal(torch.cat(chunks), t.reshape(-1))


def test_trivial_output_checks_agree_with_whole_tensor_ones(small_chunks) -> None:
    torch.manual_seed(0)
    tiny, big = torch.randn(50, 77) * 1e-4, torch.randn(50, 77)
    assert trivial.trivial_passing(tiny, 1e-2, 1e-2) == "all-zero"
    assert trivial.trivial_passing(big, 1e-2, 1e-2) is None
    assert trivial.trivial_passing(torch.full((3001,), 5.0), 1e-2, 1e-2) == "constant"
    with_inf = big.clone()
    with_inf.view(-1)[2500] = float("inf")
    assert trivial.trivial_passing(with_inf * 1e-6, 1e-2, 1e-2) is None, "a non-finite chunk"
    whole = float(big.double().pow(2).mean().sqrt())
    assert trivial.rms(big) == pytest.approx(whole, rel=1e-12)


def test_fingerprint_sees_a_change_in_any_chunk(small_chunks) -> None:
    t = torch.randn(20_000)
    before = Fingerprint.of([t])
    assert before.sums[0] == pytest.approx(float(t.double().sum()), rel=1e-9, abs=1e-9)
    t[12_345] += 1.0
    assert not Fingerprint.of([t]).same_as(before)


def test_bad_region_built_chunk_by_chunk(small_chunks) -> None:
    reference = torch.zeros(40, 60)
    candidate = reference.clone()
    candidate[17, 5] = candidate[33, 41] = 1.0
    candidate[20, 50] = float("nan")
    assert compare.bad_region(candidate, reference, 1e-2, 1e-2) == [[17, 33], [5, 50]]
    trial = compare.compare([candidate], [reference], 0, 1e-2, 1e-2)
    assert trial.mismatched == 3 and trial.bad_region == [[17, 33], [5, 50]]


def test_one_value_is_no_constant_output_and_a_scale_that_would_not_tighten_is_not_claimed():
    assert trivial.trivial_passing(torch.tensor([135.0]), 1e-2, 1e-2) is None
    assert trivial.trivial_passing(torch.tensor([1e-5]), 1e-2, 1e-2) == "all-zero"
    atol, flag = trivial.scaled_tolerance([torch.full((100,), 135.0)], 1e-2, 1e-2)
    assert atol == 1e-2 and flag is not None
    assert "no tighter" in flag.reason and "judged with" not in flag.reason
    atol, flag = trivial.scaled_tolerance([torch.full((100,), 1e-4)], 1e-2, 1e-2)
    assert atol_of(atol, 0) == pytest.approx(1e-6) and "judged with atol=1e-06" in flag.reason


def test_zeros_passing_on_most_elements_make_the_tolerance_scale_too():
    """A softmax over hundreds of columns: zeros meet atol=1e-2 on all but its largest values,
    so a kernel right only there would pass."""
    torch.manual_seed(0)
    reference = torch.softmax(torch.randn(67, 781), dim=-1)
    assert trivial.trivial_passing(reference, 1e-2, 1e-2) == "mostly-zero"
    atol, flag = trivial.scaled_tolerance([reference], 1e-2, 1e-2)
    assert atol_of(atol, 0) == pytest.approx(1e-2 * trivial.rms(reference))
    assert "on 99." in flag.reason and "of the elements of reference output 0" in flag.reason
    assert "constant" not in flag.reason
    relu = torch.relu(torch.randn(1000))  # half zeros: zeros are no check on the other half
    assert trivial.trivial_passing(relu, 1e-2, 1e-2) is None


def test_only_the_output_a_trivial_one_would_pass_is_judged_tighter():
    """A tiny second output tightens its own tolerance, not the first's: a right kernel whose
    first output carries float32 rounding near zero (a long reduction) still passes there, and
    a wrong value in the tiny output still fails."""
    torch.manual_seed(0)
    large, tiny = torch.randn(4096), torch.full((64,), 1e-4)
    atol, flag = trivial.scaled_tolerance([large, tiny], 1e-2, 1e-2)
    assert flag is not None and "reference output 1" in flag.reason
    assert atol_of(atol, 0) == 1e-2 and atol_of(atol, 1) == pytest.approx(1e-6)
    rounded = large + 1e-4 * torch.randn(4096)  # what a different summation order gives
    assert compare.compare([rounded, tiny.clone()], [large, tiny], 0, atol, 1e-2).passed
    assert not compare.compare([large.clone(), torch.zeros(64)], [large, tiny], 0, atol,
                               1e-2).passed


def test_a_per_output_tolerance_travels_as_json_and_back():
    atol, _ = trivial.scaled_tolerance([torch.randn(100), torch.full((8,), 1e-4)], 1e-2, 1e-2)
    record = json.loads(json.dumps({**tolerance.to_json(atol), "rtol": 1e-2}))
    assert record["atol"] == 1e-2 and list(record["atol_by_output"]) == ["1"]
    assert tolerance.from_json(record) == atol
    assert tolerance.from_json({"atol": 0.5}) == 0.5
    assert "output 1: 1e-06" in tolerance.describe(atol)
