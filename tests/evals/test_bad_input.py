"""A suite file that cannot be a problem (not UTF-8, not Python) is a bad-input row with its
reason, counted in the summary line and the report; it is never dropped."""

from __future__ import annotations

import shutil
from pathlib import Path

from kernel_agent.evals.suites import load_suite, problem_error

from .conftest import CANDIDATES, SUITE, read_json, rows, run_cli

NOT_UTF8 = b"import torch\n# caf\xe9\nclass Model(torch.nn.Module):\n    pass\n"
NOT_PYTHON = "import torch\n\nclass Model(torch.nn.Module):\n    def forward(self x):\n"
HELPER = "def helper():\n    return 1\n"


def make_suite(root: Path) -> tuple[Path, Path]:
    suite, candidates = root / "suite", root / "candidates"
    suite.mkdir()
    candidates.mkdir()
    shutil.copy(SUITE / "level1" / "1_Scale_add.py", suite / "1_Scale_add.py")
    shutil.copy(CANDIDATES / "level1" / "1_Scale_add.py", candidates / "1_Scale_add.py")
    (suite / "2_Latin1.py").write_bytes(NOT_UTF8)
    (suite / "3_Broken.py").write_text(NOT_PYTHON)
    (suite / "helpers.py").write_text(HELPER)  # no class Model: not a problem, as before
    return suite, candidates


def test_unusable_files_stay_in_the_suite_with_their_reason(tmp_path):
    suite, _ = make_suite(tmp_path)
    problems = load_suite(suite).problems
    assert [p.id for p in problems] == ["1_Scale_add", "2_Latin1", "3_Broken"]
    reasons = {p.id: problem_error(p.path) for p in problems}
    assert reasons["1_Scale_add"] is None
    assert "not UTF-8" in reasons["2_Latin1"] and "0xe9" in reasons["2_Latin1"]
    assert "not valid Python: line 4" in reasons["3_Broken"]
    assert all(p.sha256() for p in problems)


def test_eval_reports_bad_inputs_instead_of_dropping_them(tmp_path):
    suite, candidates = make_suite(tmp_path)
    run_dir = tmp_path / "run"
    done = run_cli("eval", suite, "--candidates", candidates, "--out", run_dir,
                   env={"KERNEL_AGENT_CACHE": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 of 3 problems finished (2 bad input, not counted)" in " ".join(done.stdout.split())
    recorded = {r["id"]: r for r in rows(run_dir, "SELECT id, outcome, message FROM problems")}
    assert {k: v["outcome"] for k, v in recorded.items()} == {
        "1_Scale_add": "evaluated", "2_Latin1": "bad_input", "3_Broken": "bad_input"}
    assert "not UTF-8" in recorded["2_Latin1"]["message"]
    assert "not valid Python" in recorded["3_Broken"]["message"]
    report = read_json(run_dir / "report.json")
    assert (report["headline"]["problems"], report["headline"]["counted"],
            report["headline"]["bad_input"]) == (3, 1, 2)
    assert report["headline"]["correct"]["count"] == 1
    markdown = (run_dir / "report.md").read_text()
    assert "Not counted (bad input)" in markdown and "2_Latin1" in markdown
