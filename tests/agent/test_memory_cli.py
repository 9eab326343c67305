"""`kernel-agent memory list | show | export | import`, run as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kernel_agent.sandbox import get_sandbox
from kernel_agent.tools.check import read_source, verify_sources
from kernel_agent.tools.memory import KernelMemory
from tests.conftest import DATA
from tests.tools.memory_data import timed, variant

PROBLEM = DATA / "scale_add_problem.py"


def memory_cli(memory: Path, *args: str | Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "kernel_agent.agent.cli", "memory", *map(str, args)]
    env = {**os.environ, "COLUMNS": "200", "KERNEL_AGENT_MEMORY": str(memory)}
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def stocked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """A memory with two kernels for PROBLEM (one timed on a GPU) and one for a similar problem,
    all from a real verdict."""
    path = tmp_path_factory.mktemp("memory") / "memory.sqlite"
    problem = read_source(PROBLEM, "problem")
    candidate = read_source(DATA / "scale_add_correct.py", "candidate")
    similar_problem = problem["text"].replace("randn(1000)", "randn(500)")
    sandbox = get_sandbox("local")
    try:
        verdict = verify_sources(problem, candidate, sandbox=sandbox, trials=2).to_dict()
        assert verdict["status"] == "pass"
        with KernelMemory(path, sandbox=sandbox) as memory:
            ids = {
                "cpu": memory.remember(problem["text"], candidate["text"], verdict, "seed",
                                       name="scale-add"),
                "gpu": memory.remember(problem["text"], variant(candidate["text"], 1),
                                       timed(verdict, 2.5), "runs/2024-scale-add",
                                       name="scale-add"),
                "similar": memory.remember(similar_problem, variant(candidate["text"], 2),
                                           timed(verdict, 1.25), "runs/half",
                                           name="scale-add-500"),
            }
    finally:
        sandbox.close()
    return path, ids


def rows(output: str) -> list[list[str]]:
    """The cells of a Rich table's body rows."""
    return [[cell.strip() for cell in line.strip("│").split("│")]
            for line in output.splitlines() if line.startswith("│")]


def test_list_and_show(stocked: tuple[Path, dict[str, int]]):
    path, ids = stocked
    listed = memory_cli(path, "list")
    assert listed.returncode == 0, listed.stderr
    assert f"kernel memory {path}: 3 kernel(s)" in listed.stdout
    table = rows(listed.stdout)
    assert [row[0] for row in table] == [str(ids["similar"]), str(ids["gpu"]), str(ids["cpu"])]
    assert table[1][1:6] == ["scale-add", "triton", "2.50x", "1.25x", "NVIDIA H100 80GB HBM3"]
    assert table[1][7] == "runs/2024-scale-add"
    assert table[2][3:6] == ["-", "-", "cpu"]

    for_problem = memory_cli(path, "list", "--problem", PROBLEM)
    assert for_problem.returncode == 0, for_problem.stderr
    assert "2 exact, 1 similar" in for_problem.stdout and "family add+mul|1,1" in for_problem.stdout
    assert [row[:2] for row in rows(for_problem.stdout)] == [
        ["exact", str(ids["gpu"])], ["exact", str(ids["cpu"])], ["similar", str(ids["similar"])]]

    shown = memory_cli(path, "show", ids["gpu"])
    assert shown.returncode == 0, shown.stderr
    assert "def scale_add_kernel(x_ptr, b_ptr, out_ptr, n, BLOCK: tl.constexpr):" in shown.stdout
    assert "# variant 1" in shown.stdout
    assert "verdict: PASS" in shown.stdout and "correct on 2 trials" in shown.stdout
    assert "speedup vs eager          2.50x" in shown.stdout
    assert "fp1-" in shown.stdout and "runs/2024-scale-add" in shown.stdout

    unknown = memory_cli(path, "show", "999")
    assert unknown.returncode == 2
    assert f"no kernel with id 999 in kernel memory {path}" in unknown.stderr


def test_export_then_import_elsewhere(stocked: tuple[Path, dict[str, int]], tmp_path: Path):
    path, _ = stocked
    exported = tmp_path / "kernels.jsonl"
    result = memory_cli(path, "export", exported)
    assert result.returncode == 0, result.stderr
    assert f"exported 3 kernel(s) to {exported}" in result.stdout
    lines = [json.loads(line) for line in exported.read_text().splitlines()]
    assert sorted(line["problem_name"] for line in lines) == [
        "scale-add", "scale-add", "scale-add-500"]

    other = tmp_path / "other.sqlite"
    first = memory_cli(other, "import", exported)
    assert first.returncode == 0, first.stderr
    assert "3 new, 0 already present" in first.stdout
    again = memory_cli(other, "import", exported)
    assert "0 new, 3 already present" in again.stdout
    listed = memory_cli(other, "list")
    assert [row[7] for row in rows(listed.stdout)] == ["import"] * 3


def test_bad_files_and_ids_exit_2(stocked: tuple[Path, dict[str, int]], tmp_path: Path):
    path, _ = stocked
    exported = tmp_path / "kernels.jsonl"
    memory_cli(path, "export", exported)
    good = exported.read_text().splitlines()[0]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(f"{good}\n{{\"format\": 1}}\n")
    other = tmp_path / "other.sqlite"
    refused = memory_cli(other, "import", bad)
    assert refused.returncode == 2
    assert "1 bad line(s), nothing imported" in refused.stderr
    assert "line 2: missing field(s) problem_name" in refused.stderr
    assert f"kernel memory {other}: 0 kernel(s)" in memory_cli(other, "list").stdout

    missing = memory_cli(other, "import", tmp_path / "absent.jsonl")
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    no_problem = memory_cli(path, "list", "--problem", tmp_path / "absent.py")
    assert no_problem.returncode == 2 and "problem file not found" in no_problem.stderr
    no_folder = memory_cli(path, "export", tmp_path / "no" / "such" / "dir.jsonl")
    assert no_folder.returncode == 2 and "cannot write" in no_folder.stderr
    not_a_database = tmp_path / "notes.txt"
    not_a_database.write_text("plain text, not SQLite\n" * 20)
    unusable = memory_cli(not_a_database, "list")
    assert unusable.returncode == 2 and "cannot be opened" in unusable.stderr
