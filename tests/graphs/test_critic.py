"""The critic's diagnosis on real verdicts: each candidate here is run through the verifier,
and the diagnosis must name the evidence (lines, error patterns, flags) the verdict holds."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from kernel_agent.agent.critic import (
    BestCode,
    diagnose,
    no_code_diagnosis,
    refined_prompt,
    write_advice,
)
from kernel_agent.tools.check import verify_sources
from kernel_agent.tools.verdict import Stats, Timing, Verdict
from tests.openai_server import HttpError, Reply, ScriptedOpenAIServer

from .conftest import chat_model
from .scripts import DATA, OFF_BY_ONE

HERE = DATA.parent / "graphs" / "data"
ROWS = (HERE / "rows_correct.py").read_text()


def variant(old: str, new: str) -> str:
    assert old in ROWS
    return ROWS.replace(old, new)


# name: (problem, candidate source); the rows problem is y = 2x on a 6x80 tensor
CASES = {
    "correct": ("rows", ROWS),
    "syntax": ("rows", variant("def forward(self, x: torch.Tensor) -> torch.Tensor:",
                               "def forward(self, x) torch.Tensor:")),
    "runtime": ("rows", variant("rows, columns = x.shape", "rows, columns = x.shape[3]")),
    "columns": ("rows", variant("range(0, columns, BLOCK)", "range(0, 64, BLOCK)")),
    "last_row": ("rows", variant("[(rows,)]", "[(rows - 1,)]")),
    "factor": ("rows", variant("2 * x, mask", "4 * x, mask")),
    "nan": ("rows", variant("2 * x, mask", "2 * x + 0.0 / (x - x), mask")),
    "off_by_one": ("scale_add", OFF_BY_ONE),
    "modifies_input": ("scale_add", (DATA / "candidates" / "modifies_input.py").read_text()),
}
PROBLEMS = {"rows": HERE / "rows_problem.py", "scale_add": DATA / "scale_add_problem.py"}


@pytest.fixture(scope="module")
def verdicts(sandbox) -> dict[str, Verdict]:
    def run(name: str) -> Verdict:
        problem, source = CASES[name]
        path = PROBLEMS[problem]
        return verify_sources({"text": path.read_text(), "path": str(path)},
                              {"text": source, "path": f"{name}.py"}, sandbox=sandbox)

    with ThreadPoolExecutor(2) as pool:
        return dict(zip(CASES, pool.map(run, CASES), strict=True))


def diagnosis(verdicts: dict[str, Verdict], name: str):
    return diagnose(verdicts[name], CASES[name][1])


def test_compile_error_names_the_exact_line(verdicts):
    found = diagnosis(verdicts, "syntax")
    assert found.kind == "compile_error"
    assert found.headline == "the file does not load at syntax.py:18: syntax error: expected ':'"
    assert ">   18 |     def forward(self, x) torch.Tensor:" in found.text()


def test_runtime_error_names_the_line_and_message(verdicts):
    found = diagnosis(verdicts, "runtime")
    assert found.kind == "runtime_error"
    assert "runtime.py:20" in found.headline and "IndexError" in found.headline
    assert ">   20 |         rows, columns = x.shape[3]" in found.text()


def test_columns_past_a_block_are_masking_or_bounds(verdicts):
    found = diagnosis(verdicts, "columns")
    assert found.kind == "wrong_output"
    assert "correct up to column 64, wrong from column 64 to the end (79)" in found.headline
    assert "masking or bounds" in found.headline and "multiple of 64" in found.headline


def test_only_the_last_row_wrong(verdicts):
    found = diagnosis(verdicts, "last_row")
    assert "only the last row (5 of 0..5) is wrong" in found.headline
    assert "grid that misses the final block" in found.headline


def test_only_the_last_element_wrong(verdicts):
    found = diagnosis(verdicts, "off_by_one")
    assert "only the last index (999 of 0..999) is wrong" in found.headline
    assert "first wrong at index [999]" in found.text()


def test_every_element_off_by_a_constant_factor(verdicts):
    found = diagnosis(verdicts, "factor")
    assert found.kind == "wrong_output"
    assert "the reference times 2:" in found.headline and "constant factor" in found.headline


def test_nan_outputs_are_named_before_what_they_cause(verdicts):
    verdict = verdicts["nan"]
    assert any(t.nonfinite for t in verdict.trials)
    found = diagnosis(verdicts, "nan")
    assert found.kind == "nonfinite" and "NaN/Inf" in found.headline


def test_integrity_flag_says_what_and_why_disallowed(verdicts):
    found = diagnosis(verdicts, "modifies_input")
    assert found.kind == "integrity" and "inputs_modified" in found.headline
    assert "detected: the candidate wrote into input(s) [1]" in found.text()
    assert "disallowed because writing into the inputs" in found.text()


def test_correct_without_gpu_says_speed_was_not_measured(verdicts):
    found = diagnosis(verdicts, "correct")
    assert found.kind == "correct" and "speed not measured" in found.headline


def test_correct_but_slow_reads_the_timing(verdicts):
    # The CPU verifier cannot time; the timing block of this real passing verdict is set by hand.
    timed = replace(verdicts["correct"], not_measured={}, timing=Timing(
        candidate=Stats(2.0, 0.1, 100, 1.9), eager=Stats(1.0, 0.05, 100, 0.95),
        compiled=Stats(0.8, 0.05, 100, 0.75), speedup_eager=0.5, speedup_compiled=0.4))
    timed.custom_kernels = {"custom_share": 0.4, "kernels": {"double_rows_kernel": 30.0,
                                                             "elementwise_copy": 45.0}}
    found = diagnose(timed, ROWS)
    assert found.kind == "slow" and "slower than eager PyTorch (0.50x)" in found.headline
    assert "own kernels carry 40% of the GPU time" in found.text()


def test_advice_from_the_critic_model_and_the_fallback_when_it_fails(verdicts):
    found = diagnosis(verdicts, "columns")
    best = BestCode(ROWS, 1, "pass")
    history = [{"round": 1, "branch": 0, "idea": "row blocks", "outcome": "fail: columns"}]
    kwargs = {"idea": "row blocks", "round": 2, "code": CASES["columns"][1],
              "verdict_text": verdicts["columns"].summary(), "diagnosis": found, "best": best,
              "history": history}
    reply = Reply(content="<think>The loop bound is a constant.</think>Loop to `columns`.")
    with ScriptedOpenAIServer([reply]) as server:
        advice = write_advice(chat_model(server), **kwargs)
        sent = server.requests[0]["messages"][-1]["content"]
    assert advice.text == "Loop to `columns`." and advice.error is None
    assert found.headline in sent and ROWS in sent and "fail: columns" in sent

    with ScriptedOpenAIServer([HttpError(500)] * 2) as server:
        failed = write_advice(chat_model(server), **kwargs)
    assert failed.error is not None and "500" in failed.error
    assert failed.text.startswith("Find the cause of the error pattern")

    prompt = refined_prompt(problem_text="PROBLEM", problem_path="rows_problem.py", request="",
                            idea="row blocks", round=2, previous_code=CASES["columns"][1],
                            diagnosis=found, advice=advice.text, best=best, history=history)
    assert found.headline in prompt and "Loop to `columns`." in prompt
    assert "Best kernel so far (round 1, pass)" in prompt and "fail: columns" in prompt


def test_no_code_diagnosis_carries_the_reason():
    found = no_code_diagnosis("the answer stopped while still reasoning (token limit)")
    assert found.kind == "no_code" and "token limit" in found.headline
