"""On a GPU host: benchmarks/attention_tuning.py runs end to end on a small shape, and every
implementation (the kernel as shipped and tuned, FlexAttention, SDPA, the eager reference)
matches the reference and gets a time, with its ratio to FlexAttention. One example keeps the GPU
suite short (each costs a FlexAttention compile and a tuning): the sliding window, whose block
mask and SDPA mask are the most the script builds. A problem SDPA cannot express is covered on
the CPU (test_attention_benchmark_cpu.py); the example kernels themselves are verified at full
size in test_verifier_gpu.py."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ..conftest import ROOT

pytestmark = pytest.mark.gpu
SCRIPT = ROOT / "benchmarks" / "attention_tuning.py"
SHAPE = "1,2,256,64"
IMPLEMENTATIONS = ("kernel as shipped", "kernel tuned", "FlexAttention", "SDPA", "eager reference")
PROBLEMS = ("sliding window 1024, causal",)


def test_benchmark_times_every_implementation_on_a_small_shape(tmp_path):
    rows_file, section = tmp_path / "rows.json", tmp_path / "results.md"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--variants", "window", "--shapes", SHAPE,
         "--max-variants", "1", "--rounds", "2", "--runs", "20", "--json", str(rows_file),
         "--markdown", str(section)],
        capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    result = json.loads(rows_file.read_text())
    assert result["timed"] is True
    rows = result["rows"]
    assert [r["problem"] for r in rows] == [p for p in PROBLEMS for _ in IMPLEMENTATIONS]
    for row in rows:
        assert row["implementation"].startswith(IMPLEMENTATIONS), row
        assert row["check"].startswith("ok"), row
        assert row["ms"] > 0 and row["tflops"] > 0 and row["vs_flex"] > 0, row
    assert all(r["vs_flex"] == pytest.approx(1.0) for r in rows
               if r["implementation"].startswith("FlexAttention"))
    assert sum(note.startswith("Tuning, ") for note in result["notes"]) == len(PROBLEMS)
    text = section.read_text()
    assert "## Attention kernels vs FlexAttention and SDPA" in text
    assert text.count("\n| ") == 1 + len(rows)  # the header and one line per row
