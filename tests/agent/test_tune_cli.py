"""`kernel-agent tune` as a user runs it: the table, the JSON, what is written, exit codes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kernel_agent.agent.cli_tune import show
from kernel_agent.tools.tune_compare import decide
from kernel_agent.tools.tuning import TuneResult, VariantResult
from tests.conftest import DATA

TUNING = DATA / "tuning"


def run_tune(*args: str | Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "kernel_agent.agent.cli", "tune", *map(str, args)]
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


def test_table_on_cpu_lists_wrong_variants_and_writes_nothing(tmp_path: Path):
    candidate = Path(shutil.copy(TUNING / "softmax_block64.py", tmp_path / "kernel.py"))
    result = run_tune(TUNING / "softmax_problem.py", candidate, "--max-variants", "2")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "parameter BLOCK (line 8): 64; tries 32, 128, 16, 256" in out
    table = {line.split("│")[2].strip(): line for line in out.splitlines()
             if line.count("│") > 4 and line.split("│")[1].strip()[:1].isdigit()}
    assert list(table) == ["original", "BLOCK 64 -> 32", "BLOCK 64 -> 128"]
    assert "fail" in table["BLOCK 64 -> 32"] and "wrong results" in table["BLOCK 64 -> 32"]
    assert "pass" in table["BLOCK 64 -> 128"] and "0 *" in table["original"]
    assert "timing needs a GPU" in out and "nothing written" in out
    assert "verified BLOCK 64 -> 32: fail" in result.stderr
    assert not (tmp_path / "kernel.tuned.py").exists()


def test_json_result_and_bad_input(tmp_path: Path):
    out_file = tmp_path / "tuned.py"
    result = run_tune(DATA / "scale_add_problem.py", TUNING / "scale_add_block16.py",
                      "--max-variants", "1", "--json", "--out", out_file)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["device"] == "cpu" and report["improved"] is False
    assert report["written"] is None and not out_file.exists()
    assert [p["name"] for p in report["parameters"]] == ["BLOCK", "num_warps"]
    assert [(v["number"], v["status"]) for v in report["variants"]] == [(0, "pass"),
                                                                         (1, "pass")]
    assert report["variants"][1]["changes"] == {"BLOCK": ["16", "32"]}
    assert report["best"] == report["original"] == (TUNING / "scale_add_block16.py").read_text()

    missing = run_tune(DATA / "scale_add_problem.py", tmp_path / "absent.py")
    assert missing.returncode == 2 and "candidate file not found" in missing.stderr
    broken = tmp_path / "broken.py"
    broken.write_text("import triton\n\ndef kernel(:\n")
    unparsable = run_tune(DATA / "scale_add_problem.py", broken)
    assert unparsable.returncode == 2 and "broken.py:3: syntax error" in unparsable.stderr
    unknown = run_tune(DATA / "scale_add_problem.py", TUNING / "scale_add_block16.py",
                       "--sandbox", "nowhere")
    assert unknown.returncode == 2 and "'nowhere' is not one of 'local', 'docker'" in unknown.stderr


def test_the_interleaved_re_timing_is_shown_with_both_medians_spreads_and_the_decision(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COLUMNS", "200")
    comparison = decide([0.4, 0.41, 0.42, 0.41, 0.41], [0.2, 0.205, 0.21, 0.205, 0.205],
                        "NVIDIA H100 80GB HBM3")
    rows = [VariantResult(0, {}, "pass", 0.41, 0.01, text="original"),
            VariantResult(1, {"BLOCK": ["16", "64"]}, "pass", 0.2, 0.01, text="tuned")]
    result = TuneResult("original", "tuned", True, 1, "cuda", f"sweep; {comparison.reason}",
                        [], [], rows, finalist=1, comparison=comparison)
    show(result, Path("kernel.py"), Path("kernel.tuned.py"))
    out = capsys.readouterr().out
    assert "re-timed interleaved, 5 rounds on NVIDIA H100 80GB HBM3" in out
    retimed = {cells[1].strip(): [c.strip() for c in cells[2:4]]
               for cells in (line.split("│") for line in out.splitlines()
                             if line.count("│") == 4)}
    assert retimed == {"original": ["0.41", "0.02"], "variant 1": ["0.205", "0.01"]}
    assert "faster by 0.205 ms (50.0%), in 5 of 5 rounds: beyond chance (5 needed)" in out
    assert "wrote the tuned kernel to kernel.tuned.py" in out
