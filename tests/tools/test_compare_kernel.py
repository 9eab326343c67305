"""The comparison kernel (tools/compare_kernel.py) gives what the torch operations give, element
for element, on every kind of value the rule treats apart: run under Triton's interpreter, in a
process of its own, since interpreter mode must be chosen before triton is first imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys

SCRIPT = r"""
import json, torch
from kernel_agent.tools import compare
from kernel_agent.tools.compare_kernel import BLOCK, output_summary

compare.CHUNK_ELEMENTS = 3 * BLOCK + 5  # chunks that end inside a block
inf, nan = float("inf"), float("nan")
results = []
torch.manual_seed(0)
for dtype in compare.FUSED_DTYPES:
    for size, atol, rtol in ((1, 1e-2, 1e-2), (BLOCK - 1, 1e-2, 1e-2), (BLOCK + 1, 0.0, 0.0),
                             (5 * BLOCK + 77, 1e-3, 1e-2), (30_001, 1e-2, 0.0)):
        reference = torch.randn(size, dtype=torch.float64).to(dtype)
        candidate = (reference.double() + 1e-3 * torch.randn(size, dtype=torch.float64)).to(dtype)
        specials = [(nan, nan), (nan, 1.0), (1.0, nan), (inf, inf), (-inf, inf), (inf, 2.0),
                    (3.0, inf), (0.0, 0.0), (5.0, 0.0), (0.0, 1e-9), (1e6, -1e6)]
        spots = torch.randperm(size)[:len(specials)].tolist()
        for spot, (c, r) in zip(spots, specials):
            candidate[spot], reference[spot] = c, r
        if size > 1000:
            candidate[777] = reference[777] + 0.5  # two equal worst ratios: the first wins
            candidate[size - 3] = reference[size - 3] + 0.5
        for c, r in ((candidate, reference), (reference.clone(), reference)):
            fused = output_summary(compare.paired_chunks(c, r), atol, rtol)
            plain = compare.torch_summary(c, r, atol, rtol)
            results.append({"case": f"{dtype} {size} {atol} {rtol}",
                            "fused": fused.__dict__, "plain": plain.__dict__})
print(json.dumps(results))
"""


def test_the_kernel_agrees_with_the_torch_rule_on_every_kind_of_value() -> None:
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         timeout=600, env={**os.environ, "TRITON_INTERPRET": "1"})
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads(run.stdout)
    assert len(results) == 30
    wrong = 0
    for result in results:
        fused, plain = result["fused"], result["plain"]
        for exact in ("mismatched", "nonfinite", "max_abs_error", "worst_at", "first_bad_at"):
            assert fused[exact] == plain[exact], (result["case"], exact, fused, plain)
        for close in ("max_rel_error", "worst_ratio"):
            a, b = fused[close], plain[close]
            assert (a is None) == (b is None), (result["case"], close, fused, plain)
            assert a is None or a == b or abs(a - b) <= 1e-6 * abs(b), (result["case"], close)
        wrong += plain["mismatched"] > 0
    assert all(r["plain"]["mismatched"] == 0 for r in results[1::2]), "a copy always passes"
    assert wrong >= 12, "the cases must include outputs out of tolerance"


def test_a_candidates_process_uses_the_kernel_only_where_the_judge_gave_it(tmp_path,
                                                                           monkeypatch) -> None:
    from kernel_agent.tools.compare import SHARED_CACHE_VARIABLE
    from kernel_agent.tools.compiled_store import pack
    from kernel_agent.tools.verify import use_verifier_kernels

    compiled = tmp_path / "judge" / "abc"
    compiled.mkdir(parents=True)
    (compiled / "compare_blocks.json").write_text("{}")
    monkeypatch.setenv(SHARED_CACHE_VARIABLE, "left from an earlier verdict")
    use_verifier_kernels(None, tmp_path / "none")
    assert SHARED_CACHE_VARIABLE not in os.environ
    use_verifier_kernels({"../escape": ["", 0]}, tmp_path / "refused")
    assert SHARED_CACHE_VARIABLE not in os.environ and not (tmp_path / "refused").exists()
    use_verifier_kernels(pack(tmp_path / "judge"), tmp_path / "given")
    assert os.environ[SHARED_CACHE_VARIABLE] == str(tmp_path / "given")
    assert (tmp_path / "given" / "abc" / "compare_blocks.json").read_text() == "{}"
