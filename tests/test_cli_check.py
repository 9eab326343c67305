"""`kernel-agent check` as a user runs it: exit codes and the JSON verdict."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from .conftest import DATA


def run_check(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "kernel_agent.agent.cli", "check", *map(str, args)]
    # Wide columns: a long checkout path must not wrap the message under test.
    env = {**os.environ, "COLUMNS": "400"}
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
