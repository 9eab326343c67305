"""benchmarks/attention_tuning.py without a GPU: `--cpu-check` runs the whole pipeline for all four
attention examples (tuning in the sandbox, the kernels under the Triton interpreter,
FlexAttention, SDPA where an additive mask can say the problem, the eager reference) on tiny
shapes and every output matches, a kernel given with --extra too (here a copy of the shipped
relative-position kernel under another name); without --cpu-check it refuses with exit status
2."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import pytest

from .conftest import ROOT, gpu_present

SCRIPT = ROOT / "benchmarks" / "attention_tuning.py"
SHIPPED = ROOT / "examples" / "relative_position_attention" / "kernel.py"


@pytest.mark.skipif(gpu_present(), reason="with a GPU the script times instead")
def test_without_gpu_it_asks_for_one_or_for_cpu_check():
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert done.returncode == 2
    assert "needs a GPU" in done.stderr and "--cpu-check" in done.stderr


def test_an_extra_kernel_must_name_a_variant_and_a_file():
    for wrong in ("nosuch=" + str(SHIPPED), "relative=/no/such/file.py", str(SHIPPED)):
        done = subprocess.run([sys.executable, str(SCRIPT), "--cpu-check", "--extra", wrong],
                              capture_output=True, text=True, timeout=120, cwd=ROOT)
        assert done.returncode == 2 and "expected VARIANT=FILE" in done.stderr, done.stderr


def test_cpu_check_runs_every_implementation_and_all_match(tmp_path):
    rows_file = tmp_path / "rows.json"
    extra = tmp_path / "relative_position_candidate.py"
    shutil.copy(SHIPPED, extra)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--cpu-check", "--max-variants", "1",
         "--extra", f"relative={extra}", "--json", str(rows_file)],
        capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    result = json.loads(rows_file.read_text())
    assert result["timed"] is False
    rows = result["rows"]
    problems = ["relative position", "ALiBi, causal", "tanh soft-cap 50",
                "sliding window 1024, causal"]
    # relative position has a sixth row: the kernel given with --extra
    assert [r["problem"] for r in rows] == [p for p in problems
                                            for _ in range(6 if p == problems[0] else 5)]
    assert rows[2]["implementation"] == f"kernel {extra.name}"
    for row in rows:
        if row["implementation"].startswith("SDPA") and row["problem"].startswith("tanh"):
            assert row["check"] == "skipped: not expressible", row  # no additive mask says it
            continue
        assert row["check"].startswith(("ok", "skipped: FlexAttention")), row
        assert row["ms"] is None and row["tflops"] is None and row["vs_flex"] is None, row
    assert "not timed (CPU)" in done.stdout
    tuning = [note for note in result["notes"] if note.startswith("Tuning, ")]
    assert len(tuning) == 4
    for note in tuning:
        verified, passed = re.search(r"(\d+) of (\d+) variants verified passed", note).groups()
        assert verified == passed, note
        assert "the original is kept" in note, note
