"""`kernel-agent check` as a user runs it: exit codes, what a person reads, the JSON verdict."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from rich.console import Console

from kernel_agent.agent.verdict_view import region_text, render_verdict
from kernel_agent.tools.verdict import Trial, Verdict

from .conftest import DATA


def run_check(*args: str, columns: int = 400) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "kernel_agent.agent.cli", "check", *map(str, args)]
    # Wide columns by default: a long checkout path must not wrap the message under test.
    env = {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


def test_exit_codes_and_readable_verdict():
    passed = run_check(DATA / "scale_add_problem.py", DATA / "scale_add_correct.py")
    assert passed.returncode == 0, passed.stderr
    assert "PASS" in passed.stdout and "correctness" in passed.stdout
    failed = run_check(DATA / "scale_add_problem.py", DATA / "scale_add_off_by_one.py")
    assert failed.returncode == 1
    assert "FAIL" in failed.stdout and "[999]" in failed.stdout
    bad = run_check(DATA / "problems" / "no_model.py", DATA / "scale_add_correct.py")
    assert bad.returncode == 2 and "missing class Model" in bad.stdout
    missing = run_check(DATA / "scale_add_problem.py", DATA / "absent.py")
    assert missing.returncode == 2 and "not found" in missing.stderr


def test_json_verdict_with_options():
    result = run_check(DATA / "scale_add_problem.py", DATA / "scale_add_correct.py",
                       "--json", "--trials", "2", "--atol", "0.001", "--rtol", "0.002")
    assert result.returncode == 0, result.stderr
    verdict = json.loads(result.stdout)
    assert verdict["status"] == "pass"
    assert len(verdict["trials"]) == 2
    assert verdict["tolerance"] == {"atol": 0.001, "rtol": 0.002}
    assert verdict["device"]["type"] == "cpu"


@pytest.mark.parametrize("columns", [80, 120])
def test_a_failure_says_where_the_wrong_elements_are(tmp_path, columns):
    deep = tmp_path / ("a-folder-with-a-long-name-" * 3) / "problems"
    deep.mkdir(parents=True)
    problem = shutil.copy(DATA / "scale_add_problem.py", deep)
    failed = run_check(problem, DATA / "scale_add_off_by_one.py", columns=columns)
    assert failed.returncode == 1
    lines = failed.stdout.splitlines()
    assert all(len(line) <= columns for line in lines)
    # the title names both files in full; the long path is in the panel, not cut in the title
    assert "scale_add_off_by_one.py vs scale_add_problem.py" in lines[0]
    flat = "".join(line.strip("│ ") for line in lines)
    assert str(problem).replace(" ", "") in flat.replace(" ", "")
    text = " ".join(" ".join(line.strip("│") for line in lines).split())
    # the element past the end is read from whatever memory lies there: a NaN some trials
    assert re.search(r"trials? [0-4](, [0-4])*: first wrong index \[999\]; wrong elements in "
                     r"index 999 only \(of 1000\)", text)


def test_a_broken_problem_shows_its_line_once():
    broken = run_check(DATA / "problems" / "syntax_error.py", DATA / "scale_add_correct.py",
                       columns=80)
    assert broken.returncode == 2
    text = broken.stdout
    # the message wraps inside the panel where the checkout's path puts it: read it unwrapped
    flat = " ".join(" ".join(line.strip("│") for line in text.splitlines()).split())
    assert flat.count("syntax error") == 1
    assert flat.count("syntax_error.py:11") == 1
    assert ">   11 |     return [torch.randn(10]" in text


def test_a_masking_bug_reads_as_columns_and_up():
    assert region_text([[0, 63], [1024, 2047]], [64, 2048]) == \
        "rows all 64, columns 1024 and up (of 2048)"
    assert region_text([[3, 3], [0, 7], [2, 5]], [4, 8, 8]) == \
        "dim 0 3 only (of 4), dim 1 all 8, dim 2 2-5 (of 8)"


@pytest.mark.parametrize("columns", [80, 120])
def test_trials_that_differ_get_a_line_each(columns):
    trials = [Trial(seed=1, passed=False, mismatched=8, elements=64, first_bad_index=[0, 4],
                    bad_region=[[0, 1], [4, 7]], bad_output_shape=[8, 8]),
              Trial(seed=2, passed=True, elements=64),
              Trial(seed=3, passed=False, mismatched=1, elements=64, first_bad_index=[7, 7],
                    bad_region=[[7, 7], [7, 7]], bad_output_shape=[8, 8], nonfinite=1)]
    verdict = Verdict(status="fail", stage="done", trials=trials,
                      tolerance={"atol": 0.01, "rtol": 0.01}, device={"name": "cpu"})
    console = Console(record=True, width=columns)
    console.print(render_verdict(verdict, DATA / "c.py", DATA / "p.py"))
    text = " ".join(" ".join(line.strip("│")
                             for line in console.export_text().splitlines()).split())
    assert ("trial 0: first wrong index [0, 4]; wrong elements in rows 0-1 (of 8), columns 4 "
            "and up (of 8)") in text
    assert ("trial 2: first wrong index [7, 7]; wrong elements in rows 7 only (of 8), columns "
            "7 only (of 8); 1 NaN/Inf where the reference is finite") in text
    assert "trial 1:" not in text


@pytest.mark.parametrize("timeout", ["nan", "inf", "-5", "0", "1e9"])
def test_a_timeout_that_is_no_time_limit_is_bad_input_with_a_json_answer(timeout):
    done = run_check("--json", "--timeout", timeout, DATA / "scale_add_problem.py",
                     DATA / "scale_add_correct.py")
    assert done.returncode == 2, done.stdout + done.stderr
    answer = json.loads(done.stdout)
    assert answer["status"] == "bad_input" and "--timeout" in answer["error"]["message"]


def test_files_python_reads_are_read_alike(tmp_path):
    """A UTF-8 byte-order mark and a coding declaration are how Python reads a file; a coding
    it does not know is bad input, said in JSON too."""
    problem = tmp_path / "problem.py"
    problem.write_bytes(b"\xef\xbb\xbf" + (DATA / "scale_add_problem.py").read_bytes())
    candidate = tmp_path / "candidate.py"
    candidate.write_bytes(b"# -*- coding: latin-1 -*-\n# caf\xe9\n"
                          + (DATA / "scale_add_correct.py").read_bytes())
    passed = run_check("--json", problem, candidate)
    assert passed.returncode == 0, passed.stdout[-2000:] + passed.stderr
    unknown = tmp_path / "unknown.py"
    unknown.write_bytes(b"# -*- coding: nonsense -*-\n"
                        + (DATA / "scale_add_problem.py").read_bytes())
    refused = run_check("--json", unknown, candidate)
    assert refused.returncode == 2
    assert "unknown encoding: nonsense" in json.loads(refused.stdout)["error"]["message"]


def test_a_timeout_on_a_machine_without_a_gpu_says_what_would_fit(tmp_path):
    slow = tmp_path / "slow.py"
    slow.write_text((DATA / "scale_add_correct.py").read_text().replace(
        "        return scale_add(x, b)", "        import time\n        time.sleep(60)\n"
        "        return scale_add(x, b)"))
    done = run_check("--json", "--timeout", "8", DATA / "scale_add_problem.py", slow)
    assert done.returncode == 1, done.stderr
    error = json.loads(done.stdout)["error"]
    assert error["kind"] == "timeout" and "get_small_inputs()" in error["message"]
