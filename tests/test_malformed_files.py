"""Every malformed problem or candidate gets a precise message naming the file (and line)."""

from __future__ import annotations

import pytest

from kernel_agent.tools.check import BadInput, check_files

from .conftest import DATA

PROBLEMS = DATA / "problems"
CANDIDATES = DATA / "candidates"
GOOD_PROBLEM = DATA / "scale_add_problem.py"
GOOD_CANDIDATE = DATA / "scale_add_correct.py"


@pytest.mark.parametrize(("problem", "line", "words"), [
    ("syntax_error.py", 11, "syntax error"),
    ("no_model.py", None, "missing class Model"),
    ("no_get_inputs.py", None, "missing function get_inputs()"),
    ("no_get_init_inputs.py", None, "missing function get_init_inputs()"),
    ("inputs_not_tensors.py", 9, "get_inputs() returned no tensors"),
    ("bad_metadata.py", 4, "KERNEL_AGENT: atol must be a non-negative number"),
    ("too_big_for_cpu.py", None, "add get_small_inputs()"),
    ("reference_raises.py", 7, "the reference Model raised RuntimeError"),
])
def test_malformed_problem_is_bad_input(problem, line, words):
    verdict = check_files(PROBLEMS / problem, GOOD_CANDIDATE)
    assert verdict.status == "bad_input"
    assert verdict.error is not None and verdict.error.kind == "bad_problem"
    assert words in verdict.error.message
    assert verdict.error.file == str(PROBLEMS / problem)
    assert verdict.error.line == line


@pytest.mark.parametrize(("candidate", "kind", "line", "words"), [
    ("syntax_error.py", "load_error", 7, "syntax error: unmatched ')'"),
    ("no_model_new.py", "load_error", None, "missing class ModelNew"),
    ("bad_constructor.py", "constructor_error", 6,
     "does not accept the problem's init inputs (): missing a required argument: 'hidden'"),
    ("wrong_shape.py", "output_mismatch", None, "shape (999,), the reference's is (1000,)"),
    ("wrong_dtype.py", "output_mismatch", None,
     "dtype torch.float64, the reference's is torch.float32"),
    ("raises.py", "runtime_error", 8, "KeyError: 'three'"),
])
def test_malformed_candidate_fails_with_its_own_line(candidate, kind, line, words):
    verdict = check_files(GOOD_PROBLEM, CANDIDATES / candidate)
    assert verdict.status == "fail"
    assert verdict.error is not None and verdict.error.kind == kind
    assert words in verdict.error.message
    assert verdict.error.line == line
    if line:
        assert f"> {line:4d} |" in verdict.error.excerpt, "the excerpt marks the failing line"


def test_missing_file_is_bad_input():
    with pytest.raises(BadInput, match="candidate file not found"):
        check_files(GOOD_PROBLEM, DATA / "nope.py")
    with pytest.raises(BadInput, match="directory"):
        check_files(DATA, GOOD_CANDIDATE)


def test_disallowed_backend_is_refused(tmp_path):
    problem = tmp_path / "cuda_only.py"
    problem.write_text(GOOD_PROBLEM.read_text() + '\nKERNEL_AGENT = {"backends": ["cuda"]}\n')
    verdict = check_files(problem, GOOD_CANDIDATE)
    assert verdict.status == "fail" and verdict.error.kind == "backend_not_allowed"
    assert "['triton']" in verdict.error.message


EXITING = {
    "at_import": "import sys\nsys.exit(3)\n",
    "in_get_inputs": "def get_inputs():\n    raise KeyboardInterrupt\n",
    "in_forward": ("class Model(nn.Module):\n    def forward(self, x, b):\n"
                   "        raise SystemExit(0)\n"),
}


@pytest.mark.parametrize(("where", "said"), [("at_import", "importing it raised SystemExit: 3"),
                                             ("in_get_inputs", "get_inputs() raised Keyboard"),
                                             ("in_forward", "Model raised SystemExit: 0")])
def test_a_problem_that_exits_or_is_interrupted_is_bad_input(tmp_path, where, said):
    problem = tmp_path / "problem.py"
    problem.write_text((DATA / "scale_add_problem.py").read_text() + "\n" + EXITING[where])
    verdict = check_files(problem, DATA / "scale_add_correct.py", trials=1, timing=False)
    assert verdict.status == "bad_input", verdict.summary()
    assert said in verdict.error.message and verdict.error.line is not None


@pytest.mark.parametrize(("raised", "said"), [
    ("SystemExit(0)", "SystemExit: 0"),
    ("KeyboardInterrupt()", "KeyboardInterrupt"),
    ("Unprintable()", "<exception str() failed>"),
])
def test_whatever_a_candidate_raises_is_its_runtime_error_at_its_line(tmp_path, raised, said):
    candidate = tmp_path / "candidate.py"
    candidate.write_text((DATA / "scale_add_correct.py").read_text().replace(
        "        return scale_add(x, b)", f"        raise {raised}") + (
        "\n\nclass Unprintable(Exception):\n    def __str__(self):\n"
        "        raise ValueError('no words')\n"))
    verdict = check_files(DATA / "scale_add_problem.py", candidate, trials=1, timing=False)
    assert verdict.status == "fail" and verdict.error.kind == "runtime_error", verdict.summary()
    assert said in verdict.error.message and verdict.error.line == 25
