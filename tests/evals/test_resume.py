"""A run killed with SIGKILL midway resumes with --resume: finished problems are not run again,
the problem in flight is, and the report is the one an uninterrupted run gives."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from .conftest import CANDIDATES, EXPECTED, SUITE, read_json, rows, run_cli, start_cli

KILL_AFTER = 3


def states(run_dir) -> list[str]:
    if not (run_dir / "results.sqlite").exists():
        return []
    try:
        return [r["state"] for r in rows(run_dir, "SELECT state FROM problems")]
    except sqlite3.OperationalError:  # the schema is being created this very moment
        return []


def midway(run_dir) -> bool:
    """KILL_AFTER problems done and the next one being verified."""
    found = states(run_dir)
    return found.count("done") >= KILL_AFTER and "running" in found


def kill_midway(child: subprocess.Popen, run_dir: Path) -> None:
    """SIGKILL the eval run `child` once it is midway (see `midway`), as a crash would."""
    try:
        deadline = time.monotonic() + 120
        while not midway(run_dir):
            assert child.poll() is None, child.stdout.read() if child.stdout else ""
            assert time.monotonic() < deadline, "the run never reached the kill point"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()


def test_killed_run_resumes_without_rerunning_finished_problems(tmp_path):
    run_dir = tmp_path / "run"
    child = start_cli("eval", SUITE, "--candidates", CANDIDATES, "--out", run_dir)
    kill_midway(child, run_dir)
    assert child.returncode == -signal.SIGKILL

    before = {r["id"]: r for r in rows(run_dir, "SELECT * FROM problems")}
    attempts_before = {a["problem"]: a for a in rows(run_dir, "SELECT * FROM attempts")}
    finished = {pid for pid, r in before.items() if r["state"] == "done"}
    assert KILL_AFTER <= len(finished) < len(EXPECTED), "killed midway, not at the end"
    assert not (run_dir / "report.json").exists()
    in_flight = {pid for pid, r in before.items() if r["state"] == "running"}

    # the report of a killed run already reads: finished problems only, the rest listed
    partial = run_cli("eval", "report", run_dir)
    assert partial.returncode == 0, partial.stderr
    report = read_json(run_dir / "report.json")
    assert report["run"]["finished"] == len(finished)
    assert set(report["run"]["unfinished"]) == set(EXPECTED) - finished

    resumed = run_cli("eval", SUITE, "--candidates", CANDIDATES, "--out", run_dir, "--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"{len(finished)} of {len(EXPECTED)} problems already done" in resumed.stdout

    after = {r["id"]: r for r in rows(run_dir, "SELECT * FROM problems")}
    attempts_after = {a["problem"]: a for a in rows(run_dir, "SELECT * FROM attempts")}
    assert all(r["state"] == "done" for r in after.values())
    for pid in finished:  # never run again: same single run, same attempt row
        assert after[pid]["runs"] == 1, pid
        if pid in attempts_before:
            assert attempts_after[pid] == attempts_before[pid], pid
    for pid in in_flight:  # claimed by the killed process, so run a second time
        assert after[pid]["runs"] == 2, pid
    assert sum(r["runs"] for r in after.values()) == len(EXPECTED) + len(in_flight)

    report = read_json(run_dir / "report.json")
    head = report["headline"]
    assert (head["counted"], head["attempts"]) == (8, 7)
    assert (head["compiled"]["count"], head["numerically_correct"]["count"],
            head["correct"]["count"]) == (6, 4, 2)
    assert report["run"]["unfinished"] == []
    for problem in report["problems"]:
        outcome, status, compiled, numeric, correct, flags, kind = EXPECTED[problem["id"]]
        assert (problem["outcome"], problem["status"], problem["compiled"],
                problem["numerically_correct"], problem["correct"], problem["flags"],
                problem["error_kind"]) == (outcome, status, compiled, numeric, correct, flags,
                                           kind), problem["id"]
