"""extract_code on a corpus of messy answers shaped like real model output (answers/*.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from kernel_agent.agent.code_blocks import code_blocks
from kernel_agent.agent.extract import extract_code

ANSWERS = Path(__file__).parent / "answers"


def answer(name: str) -> str:
    return (ANSWERS / f"{name}.md").read_text()


def parses(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


def test_skips_the_echoed_reference_and_drops_the_prose() -> None:
    got = extract_code(answer("reference_then_model_new"))
    assert got.blocks == 2 and not got.truncated
    assert got.code is not None and parses(got.code)
    assert "class ModelNew" in got.code and "@triton.jit" in got.code
    assert "class Model(" not in got.code
    assert "memory bandwidth" not in got.code
    assert "block 2 of 2" in got.note


def test_joins_a_kernel_block_to_the_model_new_block_that_uses_it() -> None:
    got = extract_code(answer("split_kernel_and_model"))
    assert got.code is not None and parses(got.code)
    assert got.code.index("def softmax_kernel") < got.code.index("class ModelNew")
    assert "def softmax(" in got.code
    assert "joined after block(s) 1" in got.note
    assert "Now the module" not in got.code


def test_python_inside_a_cuda_tag_is_found_by_its_content() -> None:
    got = extract_code(answer("cuda_tag_around_python"))
    assert got.code is not None and parses(got.code)
    assert "load_inline" in got.code and "__global__" in got.code
    assert "```cuda" in got.note


def test_a_pure_cpp_block_is_not_taken_for_python() -> None:
    got = extract_code(answer("cpp_block_and_python"))
    assert got.blocks == 2
    assert got.code is not None and parses(got.code)
    assert got.code.startswith("import torch")
    assert "block 2 of 2" in got.note and "joined" not in got.note


def test_untagged_fence() -> None:
    got = extract_code(answer("untagged_fence"))
    assert got.code is not None and parses(got.code)
    assert "def square_kernel" in got.code and "untagged" in got.note


def test_no_fences_takes_the_code_and_trims_the_prose_after_it() -> None:
    got = extract_code(answer("no_fences"))
    assert got.blocks == 0 and not got.truncated
    assert got.code is not None and parses(got.code)
    assert got.code.startswith("import torch")
    assert "return out" in got.code
    assert "single pass" not in got.code and "half precision" not in got.code
    assert "dropping 2 trailing line(s)" in got.note


def test_an_unterminated_fence_is_reported_as_truncated_with_the_partial_code() -> None:
    got = extract_code(answer("truncated"))
    assert got.truncated
    assert got.code is not None and "def matmul_kernel" in got.code
    assert not parses(got.code)
    assert "cut off" in got.note and "no class ModelNew" in got.note


def test_the_last_complete_model_new_block_wins() -> None:
    got = extract_code(answer("draft_then_corrected"))
    assert got.code is not None and "# FINAL" in got.code and "DRAFT" not in got.code
    assert "joined" not in got.note


def test_a_cut_off_revision_falls_back_to_the_complete_version() -> None:
    got = extract_code(answer("complete_then_cut_off"))
    assert got.code is not None and "# COMPLETE" in got.code and "# CUT" not in got.code
    assert not got.truncated and parses(got.code)
    assert "later ModelNew block was cut off" in got.note


def test_a_usage_example_is_never_joined() -> None:
    got = extract_code(answer("with_usage_example"))
    assert got.code is not None and "# USAGE" not in got.code and parses(got.code)


def test_without_model_new_the_longest_python_block_is_taken() -> None:
    got = extract_code(answer("no_model_new"))
    assert got.blocks == 3
    assert got.code is not None and "def add_kernel" in got.code
    assert "pip install" not in got.code and "print(add_kernel)" not in got.code
    assert "no class ModelNew" in got.note


def test_prose_only() -> None:
    got = extract_code(answer("no_code"))
    assert got.code is None and got.blocks == 0 and not got.truncated
    assert "no code" in got.note


def test_fences_indented_inside_a_list_are_dedented() -> None:
    got = extract_code(answer("indented_fences"))
    assert got.code is not None and parses(got.code)
    assert got.code.startswith("import torch") and "Run the verifier" not in got.code


@pytest.mark.parametrize("text, expected", [
    ("```bash\nnvidia-smi\n```\n", "no Python code in 1 fenced block(s) (bash)"),
    ("", "no code found"),
])
def test_nothing_usable(text: str, expected: str) -> None:
    got = extract_code(text)
    assert got.code is None and expected in got.note


def test_a_fence_of_four_backticks_keeps_an_inner_triple_fence() -> None:
    text = ('````python\nimport torch\n\nDOC = """\n```\nexample\n```\n"""\n\n\n'
            'class ModelNew(torch.nn.Module):\n    pass\n````\n')
    got = extract_code(text)
    assert got.blocks == 1 and got.code is not None and parses(got.code)
    assert "class ModelNew" in got.code and "```\nexample" in got.code


def test_a_long_unfenced_answer_is_taken_in_time():
    """Thousands of top-level lines of code, unfenced: the code's start is found by parsing
    from the top, not by parsing once per line."""
    import time

    code = "".join(f"v{i} = {i}\n" for i in range(4000)) + (
        "class ModelNew:\n    def forward(self, x):\n        return x\n")
    started = time.monotonic()
    found = extract_code(code + "\nThat's the file.\n")
    assert time.monotonic() - started < 5
    assert found.code == code


def test_a_long_unclosed_block_with_long_prose_after_is_taken_in_time():
    """A fence never closed: thousands of lines of code, then a long explanation, then the next
    block. The code's end is found from where each failed parse stopped, not by parsing once per
    line of prose."""
    import time

    code = "".join(f"v{i} = {i}\n" for i in range(4000))
    prose = "".join(f"Step {i} of the explanation, in words.\n" for i in range(1500))
    answer = f"```python\n{code}\n{prose}```python\nclass ModelNew:\n    pass\n```\n"
    started = time.monotonic()
    blocks = code_blocks(answer)
    assert time.monotonic() - started < 2
    assert [block.code for block in blocks] == [code, "class ModelNew:\n    pass\n"]


def test_an_unclosed_block_keeps_its_longest_start_that_parses():
    code = ("import torch\n\n\nclass ModelNew(torch.nn.Module):\n"
            "    def forward(self, x):\n        return x\n")
    answer = (f"```python\n{code}\nThis is the kernel (it adds nothing).\nIt runs.\n"
              "```python\nprint('usage')\n```\n")
    assert [block.code for block in code_blocks(answer)] == [code, "print('usage')\n"]
