"""On a GPU host: benchmarks/attention_tuning.py runs end to end on small shapes, and every
implementation (the example kernels as shipped and tuned, FlexAttention, SDPA, the eager
reference) matches the reference and gets a time."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ..conftest import ROOT

pytestmark = pytest.mark.gpu
SCRIPT = ROOT / "benchmarks" / "attention_tuning.py"
SHAPES = ["1,2,256,64", "2,2,128,128"]
IMPLEMENTATIONS = ("kernel as shipped", "kernel tuned", "FlexAttention", "SDPA", "eager reference")


def test_benchmark_times_every_implementation_on_small_shapes(tmp_path):
    rows_file, section = tmp_path / "rows.json", tmp_path / "results.md"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--shapes", *SHAPES, "--max-variants", "1", "--runs", "20",
         "--json", str(rows_file), "--markdown", str(section)],
        capture_output=True, text=True, timeout=1200, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-3000:]
    result = json.loads(rows_file.read_text())
    assert result["timed"] is True
    rows = result["rows"]
    assert len(rows) == 2 * len(SHAPES) * len(IMPLEMENTATIONS)
    for row in rows:
        assert row["check"].startswith("ok"), row
        assert row["ms"] > 0 and row["tflops"] > 0, row
    for problem in ("relative position", "ALiBi, causal"):
        for head_dim in (64, 128):
            names = [r["implementation"] for r in rows
                     if r["problem"] == problem and r["head_dim"] == head_dim]
            assert [n for n in names if n.startswith(IMPLEMENTATIONS)] == names, names
            assert len(names) == len(IMPLEMENTATIONS)
    assert all(r["vs_sdpa"] == pytest.approx(1.0) for r in rows
               if r["implementation"].startswith("SDPA"))
    assert sum(note.startswith("Tuning, ") for note in result["notes"]) == 2 * len(SHAPES)
    text = section.read_text()
    assert "## Attention kernels vs FlexAttention and SDPA" in text
    assert "measured elsewhere on an H200 (not by this script)" in text
    assert text.count("\n| ") == 1 + len(rows)  # the header and one line per row
