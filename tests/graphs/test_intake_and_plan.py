"""Intake refuses problems that cannot be used before any model time is spent; plan gives each
branch its own idea, from the model or from the built-in list of the problem's family."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage

from kernel_agent.graphs import Context, build_graph, run_search
from kernel_agent.graphs.ideas import BUILT_IN, choose_ideas, family, parse_ideas
from tests.conftest import EXAMPLES
from tests.openai_server import ScriptedOpenAIServer

from .conftest import chat_model
from .scripts import CORRECT, PROBLEM, Router, r1

PROBLEM_TEXT = PROBLEM.read_text()


@pytest.mark.parametrize(("change", "words"), [
    (("def get_inputs()", "def make_inputs()"), "missing function get_inputs()"),
    (("return 2 * x + b", "return 2 * x + b.unknown_attribute"),
     "the reference problem does not run"),
])
def test_unusable_problem_is_refused_before_any_model_call(change, words, tmp_path, sandbox):
    problem = tmp_path / "problem.py"
    problem.write_text(PROBLEM_TEXT.replace(*change))
    with ScriptedOpenAIServer(Router(lambda *_: r1(CORRECT), ["x"])) as server:
        result = run_search(problem, tmp_path / "run", model=chat_model(server),
                            mode="closed_loop", branches=2, sandbox=sandbox)
        assert server.requests == []
    assert result.status == "error" and words in (result.error or "")
    assert result.stop_reason == "bad input" and result.candidates == []
    assert words in result.report.read_text()


def test_ideas_are_read_from_json_or_lists_in_an_answer():
    assert parse_ideas('Sure! ["tile 64", "Tile 64", "persistent grid"] hope it helps') == [
        "tile 64", "persistent grid"]
    assert parse_ideas("1. tile rows\n2) vector loads\n- autotune\nprose") == [
        "tile rows", "vector loads", "autotune"]
    assert parse_ideas("I would just write a good kernel.") == []


@pytest.mark.parametrize(("path", "expected"), [
    (EXAMPLES / "rmsnorm" / "problem.py", "reduction"),
    (EXAMPLES / "matmul_bias_gelu" / "problem.py", "matmul"),
    (EXAMPLES / "alibi_attention" / "problem.py", "attention"),
    (EXAMPLES / "relative_position_attention" / "problem.py", "attention"),
    (PROBLEM, "elementwise"),
])
def test_problem_family_picks_the_built_in_ideas(path, expected):
    assert family(path.read_text()) == expected


def test_too_few_ideas_are_topped_up_with_distinct_built_in_ones():
    ideas, source = choose_ideas(["fused single pass"], 3, PROBLEM_TEXT)
    assert source == "model+built-in" and ideas[0] == "fused single pass"
    assert ideas[1:] == list(BUILT_IN["elementwise"][:2])
    many, source = choose_ideas([], 12, PROBLEM_TEXT)
    assert source == "built-in" and len(set(many)) == 12


def test_no_problem_and_no_request_gets_a_clear_answer():
    """(A chat request without a problem file is drafted into one: tests/graphs/test_draft.py.)"""
    result = build_graph().invoke({"budget": {"rounds": 1}}, context=Context())
    assert result["stop_reason"] == "bad input"
    assert "no problem given" in result["error"] and "message" in result["error"]
    assert isinstance(result["messages"][-1], AIMessage)
    assert "no problem given" in result["messages"][-1].content
