"""`kernel-agent memory list | show | export | import`, run as a user runs them; `list` read as
a person reads it at 80 and 120 columns."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kernel_agent.graphs.remember import file_name
from kernel_agent.sandbox import get_sandbox
from kernel_agent.tools.check import read_source, verify_sources
from kernel_agent.tools.memory import KernelMemory
from tests.conftest import DATA
from tests.graphs.scripts import CORRECT, Router, r1
from tests.openai_server import ScriptedOpenAIServer
from tests.tools.memory_data import timed, variant

PROBLEM = DATA / "scale_add_problem.py"


def memory_cli(memory: Path, *args: str | Path, columns: int = 200
               ) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "kernel_agent.agent.cli", "memory", *map(str, args)]
    env = {**os.environ, "COLUMNS": str(columns), "KERNEL_AGENT_MEMORY": str(memory)}
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
    """The cells of the table's body rows (columns stand two spaces apart)."""
    lines = output.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[0] in ("id", "match"))
    return [re.split(r"\s{2,}", line.strip()) for line in lines[header + 1:] if line.strip()]


def test_list_and_show(stocked: tuple[Path, dict[str, int]]):
    path, ids = stocked
    listed = memory_cli(path, "list")
    assert listed.returncode == 0, listed.stderr
    assert f"kernel memory {path}: 3 kernel(s)" in listed.stdout
    table = rows(listed.stdout)
    assert [row[0] for row in table] == [str(ids["similar"]), str(ids["gpu"]), str(ids["cpu"])]
    assert table[1][1:6] == ["scale-add", "triton", "2.50x", "1.25x", "H100 80GB HBM3"]
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


@pytest.mark.parametrize("columns", [80, 120])
def test_list_fits_the_terminal_one_line_per_kernel(stocked: tuple[Path, dict[str, int]],
                                                    columns: int):
    path, ids = stocked
    listed = memory_cli(path, "list", columns=columns)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert all(len(line) <= columns for line in lines), lines
    table = rows(listed.stdout)
    assert len(table) == 3, "one line per kernel"
    for row in table:  # names and dates whole, never in fragments
        assert row[1] in ("scale-add", "scale-add-500")
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", row[6]), row
    gpu_row = next(row for row in table if row[0] == str(ids["gpu"]))
    assert gpu_row[2:5] == ["triton", "2.50x", "1.25x"]
    if columns == 120:  # room for everything, whole
        assert gpu_row[5] == "H100 80GB HBM3" and gpu_row[7] == "runs/2024-scale-add"
    else:  # what does not fit is shortened, and says so
        assert gpu_row[5] == "H100 80GB HBM3" or gpu_row[5].endswith("…")
        assert gpu_row[7] == "runs/2024-scale-add" or gpu_row[7].endswith("…")

    for_problem = memory_cli(path, "list", "--problem", PROBLEM, columns=columns)
    assert all(len(line) <= columns for line in for_problem.stdout.splitlines())
    assert [row[:2] for row in rows(for_problem.stdout)] == [
        ["exact", str(ids["gpu"])], ["exact", str(ids["cpu"])], ["similar", str(ids["similar"])]]


def test_list_as_json(stocked: tuple[Path, dict[str, int]]):
    path, ids = stocked
    listed = memory_cli(path, "list", "--json", columns=80)
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert data["memory"] == str(path)
    assert [k["id"] for k in data["kernels"]] == [ids["similar"], ids["gpu"], ids["cpu"]]
    gpu = data["kernels"][1]
    assert (gpu["problem"], gpu["speedup_eager"], gpu["speedup_compiled"], gpu["gpu"],
            gpu["origin"]) == ("scale-add", 2.5, 1.25, "NVIDIA H100 80GB HBM3",
                               "runs/2024-scale-add")
    assert gpu["created"].startswith("20") and "T" in gpu["created"]
    assert gpu["fingerprint"].startswith("fp1-") and gpu["family"] == "add+mul|1,1"

    for_problem = json.loads(memory_cli(path, "list", "--problem", PROBLEM, "--json").stdout)
    assert for_problem["family"] == "add+mul|1,1"
    assert [(k["match"], k["id"]) for k in for_problem["kernels"]] == [
        ("exact", ids["gpu"]), ("exact", ids["cpu"]), ("similar", ids["similar"])]


def test_a_solved_problem_is_listed_by_its_file_name(tmp_path: Path):
    """A KernelBench file has no module docstring and no name of its own: `solve` remembers its
    kernel under the file's name, which is how a person knows the problem."""
    problem = tmp_path / "19_Scale_add.py"
    text = PROBLEM.read_text()
    problem.write_text(text[text.index('"""', 3) + 3:].lstrip())
    memory = tmp_path / "memory.sqlite"
    env = {**os.environ, "COLUMNS": "200", "KERNEL_AGENT_MEMORY": str(memory)}
    with ScriptedOpenAIServer(Router(lambda *_: r1(CORRECT), ["one block per program"])) as server:
        solved = subprocess.run(
            [sys.executable, "-m", "kernel_agent.agent.cli", "solve", str(problem), "--profile",
             "local", "--base-url", server.base_url, "--model", "scripted-model", "--rounds",
             "1", "--branches", "1", "--out", str(tmp_path / "run")],
            capture_output=True, text=True, timeout=300, env=env)
    assert solved.returncode == 0, solved.stdout + solved.stderr

    listed = memory_cli(memory, "list", "--json")
    solved_here = [k for k in json.loads(listed.stdout)["kernels"]
                   if k["origin"] == str(tmp_path / "run")]  # the seed memory is there too
    assert [k["problem"] for k in solved_here] == ["19_Scale_add"]
    table = memory_cli(memory, "list", columns=80).stdout
    solved_id = str(solved_here[0]["id"])
    assert [row[1] for row in rows(table) if row[0] == solved_id] == ["19_Scale_add"]
    assert not re.search(r"problem [0-9a-f]{12}", table)


@pytest.mark.parametrize(("path", "name"), [
    ("KernelBench/level1/19_ReLU.py", "19_ReLU"), ("examples/rmsnorm/problem.py", "rmsnorm"),
    ("problem.py", None), ("runs/chat-1/reference_2.py", None), (None, None)])
def test_a_problem_file_names_its_kernels_unless_its_name_is_generic(path, name):
    assert file_name(path) == name
