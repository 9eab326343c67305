"""Suite discovery (KernelBench checkout, level folder, any folder, examples), problem
selection, and the candidate layouts of evaluate-only mode."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel_agent.evals.candidates import match_candidates
from kernel_agent.evals.suites import SuiteError, load_suite, select
from tests.conftest import EXAMPLES

from .conftest import CANDIDATES, EXPECTED, KERNELBENCH, SUITE

PROBLEM = "import torch\nfrom torch import nn\n\n\nclass Model(nn.Module):\n    pass\n"


def test_kernelbench_checkout_in_three_spellings():
    for spec in (KERNELBENCH, SUITE):  # the repository root, or its KernelBench folder
        suite = load_suite(spec)
        assert suite.kind == "kernelbench"
        assert [p.id for p in suite.problems] == list(EXPECTED)
    one = load_suite(SUITE / "level2")
    assert [(p.id, p.level, p.number, p.name) for p in one.problems] == [
        ("level2/1_Add_ReLU", 2, 1, "Add_ReLU"),
        ("level2/2_Scale_shift_clamp", 2, 2, "Scale_shift_clamp"),
        ("level2/3_Mul_sum", 2, 3, "Mul_sum")]


def test_selection_by_level_and_number():
    suite = load_suite(SUITE)
    assert [p.id for p in select(suite, [2])] == [p for p in EXPECTED if p.startswith("level2")]
    assert [p.id for p in select(suite, None, {1, 3})] == [
        "level1/1_Scale_add", "level1/3_Row_sum", "level2/1_Add_ReLU", "level2/3_Mul_sum"]
    assert [p.id for p in select(suite, [1], {4, 5, 6, 7})] == [
        "level1/4_Softmax", "level1/5_Square_large", "level1/6_GELU"]
    with pytest.raises(SuiteError, match="matches the selection"):
        select(suite, [3])


def test_builtin_examples_and_plain_folders(tmp_path):
    examples = load_suite("examples")
    assert examples.kind == "examples" and examples.root == EXAMPLES
    names = sorted(p.parent.name for p in EXAMPLES.glob("*/problem.py"))
    assert [p.id for p in examples.problems] == names
    assert [p.number for p in examples.problems] == list(range(1, len(names) + 1))
    with pytest.raises(SuiteError, match="level folders"):
        select(examples, [1])

    (tmp_path / "12_softmax.py").write_text(PROBLEM)
    (tmp_path / "helper.py").write_text("X = 1\n")  # not a problem: no class Model
    (tmp_path / "attention").mkdir()
    (tmp_path / "attention" / "problem.py").write_text(PROBLEM)
    folder = load_suite(tmp_path)
    assert folder.kind == "folder"
    # numbered files keep their number; others take their place in the sorted folder
    assert [(p.id, p.number) for p in folder.problems] == [("attention", 2),
                                                            ("12_softmax", 12)]
    (tmp_path / "empty").mkdir()
    with pytest.raises(SuiteError, match="no problem files"):
        load_suite(tmp_path / "empty")
    with pytest.raises(SuiteError, match="not a folder"):
        load_suite(tmp_path / "missing")


def test_candidates_found_in_every_layout(tmp_path):
    problems = list(load_suite(SUITE).problems)
    found = match_candidates(CANDIDATES, problems)
    assert sorted(found.found) == sorted(p for p in EXPECTED if p != "level2/3_Mul_sum")
    assert found.unmatched == []

    layouts = {
        "level1/1_Scale_add": "level1/1_Scale_add/kernel.py",
        "level1/2_ReLU": "level_1_problem_2_sample_0_kernel.py",
        "level1/3_Row_sum": "3_Row_sum.py",
        "level2/1_Add_ReLU": "1_Add_ReLU/kernel.py",
    }
    for relative in [*layouts.values(), "notes/readme.py"]:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("class ModelNew: pass\n")
    matching = match_candidates(tmp_path, problems)
    assert {k: str(v.relative_to(tmp_path)) for k, v in matching.found.items()} == layouts
    assert matching.unmatched == [tmp_path / "notes" / "readme.py"]


def test_a_mirrored_tree_wins_and_flat_names_must_be_unique(tmp_path):
    problems = list(load_suite(SUITE).problems)
    for relative in ("level1/1_Scale_add.py", "1_Scale_add.py"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("class ModelNew: pass\n")
    matching = match_candidates(tmp_path, problems)
    assert matching.found == {"level1/1_Scale_add": tmp_path / "level1" / "1_Scale_add.py"}
    assert matching.unmatched == [tmp_path / "1_Scale_add.py"]

    twins = tmp_path / "twins"
    for level in (1, 2):
        (twins / "KernelBench" / f"level{level}").mkdir(parents=True)
        (twins / "KernelBench" / f"level{level}" / "1_Same.py").write_text(PROBLEM)
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "1_Same.py").write_text("class ModelNew: pass\n")
    same = match_candidates(tmp_path / "flat", list(load_suite(twins).problems))
    assert same.found == {}, "a flat name shared by two levels is ambiguous"
    with pytest.raises(FileNotFoundError):
        match_candidates(Path(tmp_path / "nowhere"), problems)
