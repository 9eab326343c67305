"""Evaluate-only end to end through `kernel-agent eval`: every number of the report against the
values derived by hand in conftest.py, in JSON, CSV, Markdown and HTML, and real PNG figures."""

from __future__ import annotations

import csv
import struct
from pathlib import Path
from statistics import median

import pytest

from .conftest import CANDIDATES, EXPECTED, SUITE, read_json, rows, run_cli

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    base = tmp_path_factory.mktemp("eval")
    run_dir = base / "run"
    done = run_cli("eval", SUITE, "--candidates", CANDIDATES, "--out", run_dir,
                   env={"KERNEL_AGENT_CACHE": str(base / "cache")})
    assert done.returncode == 0, done.stdout + done.stderr
    return run_dir, done.stdout


def share(count: int, total: int) -> dict:
    return {"count": count, "total": total, "share": count / total}


def test_headline_matches_the_hand_derived_verdicts(evaluated):
    run_dir, _ = evaluated
    report = read_json(run_dir / "report.json")
    head = report["headline"]
    assert (head["problems"], head["counted"], head["bad_input"]) == (9, 8, 1)
    assert (head["no_candidate"], head["errors"], head["attempts"]) == (1, 0, 7)
    assert head["compiled"] == share(6, 8)
    assert head["numerically_correct"] == share(4, 8)
    assert head["correct"] == share(2, 8)
    assert head["speed_measured"] is False
    for baseline in ("eager", "compiled"):
        assert head["fast_p"][baseline] == {"fast_0": share(2, 8), "fast_1": None,
                                            "fast_1.5": None, "fast_2": None}
        assert head["geomean_speedup"][baseline] is None
    assert head["untimed_correct"] is None
    assert head["flags"] == {"inputs_modified": {"attempts": 1, "problems": 1},
                             "no_custom_kernel": {"attempts": 1, "problems": 1},
                             "static_torch_compute": {"attempts": 1, "problems": 1},
                             "output_aliases_input": {"attempts": 1, "problems": 1}}
    assert head["tokens"] == {"prompt": 0, "completion": 0, "total": 0, "requests": 0,
                              "cost": None}

    one, two = report["levels"]["1"], report["levels"]["2"]
    assert (one["problems"], one["counted"], one["attempts"]) == (6, 5, 5)
    assert (one["compiled"], one["numerically_correct"], one["correct"]) == (
        share(4, 5), share(2, 5), share(1, 5))
    assert (two["problems"], two["counted"], two["attempts"]) == (3, 3, 2)
    assert (two["compiled"], two["numerically_correct"], two["correct"]) == (
        share(2, 3), share(2, 3), share(1, 3))
    assert report["run"]["unfinished"] == []
    assert "no GPU" in report["run"]["not_measured"]["timing"]


def test_per_problem_rows_and_timings_agree_with_sqlite(evaluated):
    run_dir, _ = evaluated
    report = read_json(run_dir / "report.json")
    by_id = {p["id"]: p for p in report["problems"]}
    assert list(by_id) == list(EXPECTED), "suite order: level, then problem number"
    for pid, (outcome, status, compiled, numeric, correct, flags, kind) in EXPECTED.items():
        row = by_id[pid]
        assert (row["outcome"], row["status"], row["compiled"], row["numerically_correct"],
                row["correct"], row["flags"], row["error_kind"]) == (
            outcome, status, compiled, numeric, correct, flags, kind), pid
        assert row["speedup_eager"] is None and row["speedup_compiled"] is None
    assert "too large for a CPU run" in by_id["level1/5_Square_large"]["message"]
    assert by_id["level1/6_GELU"]["candidate"].endswith("candidates/level1/6_GELU.py")

    attempts = rows(run_dir, "SELECT * FROM attempts")
    assert len(attempts) == 8  # every candidate, the bad-input problem's included
    passed = {a["problem"]: a["elapsed_s"] for a in attempts if a["status"] == "pass"}
    assert set(passed) == {"level1/1_Scale_add", "level2/1_Add_ReLU"}
    for pid, elapsed in passed.items():
        assert by_id[pid]["first_correct_s"] == pytest.approx(elapsed)
        assert 0 < elapsed < 60
    first = read_json(run_dir / "report.json")["headline"]["first_correct"]
    assert first["problems"] == 2
    assert first["median_s"] == pytest.approx(median(passed.values()))
    assert first["max_s"] == pytest.approx(max(passed.values()))

    curve = report["scaling_curve"]
    assert curve[0]["correct"] == 0.0 and curve[-1]["correct"] == 0.25
    values = [p["correct"] for p in curve]
    assert values == sorted(values), "a share reached never drops"
    assert {p["correct"] for p in curve} == {0.0, 0.125, 0.25}
    assert all(p["fast_1_eager"] is None and p["fast_1_compiled"] is None for p in curve)


def test_csv_files_hold_the_same_rows(evaluated):
    run_dir, _ = evaluated
    with (run_dir / "problems.csv").open() as f:
        table = {r["id"]: r for r in csv.DictReader(f)}
    assert list(table) == list(EXPECTED)
    for pid, (outcome, status, compiled, _, correct, flags, kind) in EXPECTED.items():
        row = table[pid]
        assert row["outcome"] == outcome and row["status"] == (status or "")
        assert row["compiled"] == ("" if compiled is None else str(compiled))
        assert row["correct"] == ("" if correct is None else str(correct))
        assert row["flags"] == ";".join(flags) and row["error_kind"] == (kind or "")
    with (run_dir / "attempts.csv").open() as f:
        attempts = list(csv.DictReader(f))
    assert [a["problem"] for a in attempts] == [p for p in EXPECTED if p != "level2/3_Mul_sum"]
    assert [a["status"] for a in attempts].count("pass") == 2


def test_markdown_and_html_show_the_numbers(evaluated):
    run_dir, stdout = evaluated
    markdown = (run_dir / "report.md").read_text()
    html = (run_dir / "report.html").read_text()
    expected_rows = [
        ("problems counted", "8 of 9 (1 bad input)", "5 of 6 (1 bad input)", "3 of 3"),
        ("compiled", "75.0% (6/8)", "80.0% (4/5)", "66.7% (2/3)"),
        ("correct (= fast_0)", "25.0% (2/8)", "20.0% (1/5)", "33.3% (1/3)"),
        ("numerically correct, before integrity checks", "50.0% (4/8)", "40.0% (2/5)",
         "66.7% (2/3)"),
        ("fast_1 vs eager", "not measured", "not measured", "not measured"),
        ("fast_2 vs torch.compile", "not measured", "not measured", "not measured"),
        ("geomean speedup vs eager", "not measured", "not measured",
         "not measured"),
        ("attempts", "7", "5", "2"),
    ]
    for cells in expected_rows:
        assert "| " + " | ".join(cells) + " |" in markdown, cells
        assert "".join(f"<td>{c}</td>" for c in cells) in html, cells
    assert "| no_custom_kernel | 1 | 1 |" in markdown
    assert "Not counted (bad input): level1/5_Square_large" in markdown
    assert "Speed not measured: no GPU" in markdown
    for name in ("speedup", "outcomes"):
        assert f"](figures/{name}.png)" in markdown
    assert html.count("src='data:image/png;base64,") == 2
    # fast_0 is the correct share: said once; a search's own measures are not drawn from
    # verification times
    assert "fast_0 |" not in markdown and "| fast_0" not in markdown
    for search_only in ("scaling.png", "Inference-time scaling", "time to first correct",
                        "first correct |", "tokens (prompt", "| cost |"):
        assert search_only not in markdown and search_only not in html, search_only
    # the terminal shows the same headline, and the progress said how far it got
    assert "75.0% (6/8)" in stdout and "9/9" in stdout and "correct so far" in stdout


def test_figures_are_real_pngs(evaluated):
    run_dir, _ = evaluated
    assert not (run_dir / "figures" / "scaling.png").exists(), "evaluate-only: no search curve"
    for name in ("speedup", "outcomes"):
        data = (run_dir / "figures" / f"{name}.png").read_bytes()
        assert data[:8] == PNG_SIGNATURE, name
        width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
        assert width >= 400 and height >= 300 and len(data) > 5000, name


def test_report_command_rebuilds_the_same_report(evaluated, tmp_path):
    run_dir, _ = evaluated
    before = read_json(run_dir / "report.json")
    (run_dir / "report.json").unlink()
    (run_dir / "figures" / "outcomes.png").unlink()
    rebuilt = run_cli("eval", "report", run_dir)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert read_json(run_dir / "report.json") == before
    assert (run_dir / "figures" / "outcomes.png").read_bytes()[:8] == PNG_SIGNATURE
    assert "75.0% (6/8)" in rebuilt.stdout

    missing = run_cli("eval", "report", tmp_path / "nowhere")
    assert missing.returncode == 2 and "not an eval run directory" in missing.stderr


def test_existing_run_needs_resume_and_the_same_settings(evaluated):
    run_dir, _ = evaluated
    again = run_cli("eval", SUITE, "--candidates", CANDIDATES, "--out", run_dir)
    assert again.returncode == 2 and "pass --resume" in again.stderr
    other = run_cli("eval", SUITE, "--level", "1", "--candidates", CANDIDATES, "--out", run_dir,
                    "--resume")
    assert other.returncode == 2 and "levels" in other.stderr
    finished = run_cli("eval", SUITE, "--candidates", CANDIDATES, "--out", run_dir, "--resume")
    assert finished.returncode == 0, finished.stderr
    assert "9 of 9 problems already done" in finished.stdout
    assert rows(run_dir, "SELECT MAX(runs) AS most FROM problems")[0]["most"] == 1
