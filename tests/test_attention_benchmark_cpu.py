"""benchmarks/attention_tuning.py without a GPU: `--cpu-check` runs the whole pipeline (tuning in
the sandbox, the kernels under the Triton interpreter, FlexAttention, SDPA, the eager reference)
on tiny shapes and every output matches; without --cpu-check it refuses with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .conftest import ROOT, gpu_present

SCRIPT = ROOT / "benchmarks" / "attention_tuning.py"


@pytest.mark.skipif(gpu_present(), reason="with a GPU the script times instead")
def test_without_gpu_it_asks_for_one_or_for_cpu_check():
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert done.returncode == 2
    assert "needs a GPU" in done.stderr and "--cpu-check" in done.stderr


def test_cpu_check_runs_every_implementation_and_all_match(tmp_path):
    rows_file = tmp_path / "rows.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--cpu-check", "--max-variants", "1",
         "--json", str(rows_file)], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    result = json.loads(rows_file.read_text())
    assert result["timed"] is False
    rows = result["rows"]
    assert [r["problem"] for r in rows] == ["relative position"] * 5 + ["ALiBi, causal"] * 5
    for row in rows:
        assert row["check"].startswith(("ok", "skipped: FlexAttention")), row
        assert row["ms"] is None and row["tflops"] is None, row
    assert "not timed (CPU)" in done.stdout
    tuning = [note for note in result["notes"] if note.startswith("Tuning, ")]
    assert len(tuning) == 2
    assert all("1 of 1 variants verified passed" in note for note in tuning), tuning
