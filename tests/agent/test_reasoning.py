"""split_reasoning on R1-style answers, as text and as messages from a real server round trip."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage

from kernel_agent.agent.extract import extract_code
from kernel_agent.agent.models import make_chat_model, resolve_config
from kernel_agent.agent.reasoning import split_reasoning
from tests.openai_server import Reply, ScriptedOpenAIServer

CODE = "```python\nclass ModelNew:\n    pass\n```"


def test_think_block_in_content() -> None:
    got = split_reasoning(f"<think>\nThe reduction needs a mask.\n</think>\n\nHere:\n{CODE}")
    assert got.reasoning == "The reduction needs a mask."
    assert got.answer.startswith("Here:") and "<think>" not in got.answer
    assert not got.truncated


def test_missing_opening_tag_as_r1_templates_produce() -> None:
    got = split_reasoning(f"Okay, so the user wants a softmax.\nLet me think.\n</think>\n\n{CODE}")
    assert got.reasoning.startswith("Okay, so the user wants") and "</think>" not in got.reasoning
    assert got.answer == CODE and not got.truncated


def test_unclosed_think_at_truncation_leaves_no_answer() -> None:
    got = split_reasoning("<think>\nFirst I tile the matrix. Then ```python\nclass ModelNew")
    assert got.truncated and got.answer == ""
    assert got.reasoning.startswith("First I tile") and "class ModelNew" in got.reasoning


def test_finish_reason_length_marks_truncation() -> None:
    message = AIMessage(content="<think>a</think>```python\nimport torch\n",
                        response_metadata={"finish_reason": "length"})
    got = split_reasoning(message)
    assert got.truncated and got.reasoning == "a" and got.answer.startswith("```python")


def test_reasoning_content_field_and_think_tags_together() -> None:
    message = AIMessage(content="<think>tagged</think>answer",
                        additional_kwargs={"reasoning_content": "separate"},
                        response_metadata={"finish_reason": "stop"})
    got = split_reasoning(message)
    assert got.reasoning == "separate\n\ntagged" and got.answer == "answer"
    assert not got.truncated


def test_reasoning_blocks_in_list_content() -> None:
    message = AIMessage(content=[{"type": "reasoning", "reasoning": "think"},
                                 {"type": "text", "text": "done"}])
    got = split_reasoning(message)
    assert got.reasoning == "think" and got.answer == "done"


def test_plain_answer_is_left_alone() -> None:
    got = split_reasoning(CODE)
    assert got.reasoning == "" and got.answer == CODE and not got.truncated


@pytest.mark.parametrize("streaming", [False, True])
def test_reasoning_content_survives_the_client(streaming: bool) -> None:
    """DeepSeek-style replies: the thinking arrives in `reasoning_content`, the code in content;
    the message from the real client carries both, and the code extracts cleanly."""
    with ScriptedOpenAIServer([
        Reply(CODE, reasoning_content="I should fuse the two loops."),
        Reply("<think>\nTile by 64.", finish_reason="length"),
        Reply(f"We need a kernel.\n</think>\n\n{CODE}"),
    ]) as server:
        config = resolve_config("local", {"base_url": server.base_url, "model": "r1",
                                          "streaming": streaming}, env={})
        model = make_chat_model(config)
        first, cut, untagged = (split_reasoning(model.invoke("go")) for _ in range(3))
    assert first.reasoning == "I should fuse the two loops." and not first.truncated
    assert extract_code(first.answer).code == "class ModelNew:\n    pass\n"
    assert cut.truncated and cut.answer == "" and cut.reasoning == "Tile by 64."
    assert untagged.reasoning == "We need a kernel." and untagged.answer == CODE


def test_several_closing_tags_leave_none_in_the_answer() -> None:
    got = split_reasoning(f"First thought.\n</think>\nSecond thought.\n</think>\n\n{CODE}")
    assert got.answer == CODE and "</think>" not in got.answer
    assert got.reasoning == "First thought.\n\nSecond thought."
    assert not got.truncated


def test_the_answer_follows_the_last_closing_tag() -> None:
    got = split_reasoning(f"<think>a</think>\n{CODE}\n<think>b</think>\nThe kernel is above.")
    assert got.answer == "The kernel is above."
    assert got.reasoning == f"a\n\n{CODE}\n\nb"


def test_how_a_reply_was_cut_is_told_apart() -> None:
    thinking = split_reasoning("<think>\nStill tiling")
    assert thinking.in_reasoning and not thinking.length_limit and thinking.answer == ""
    limited = split_reasoning(AIMessage(content="Here:\n```python\nimport torch\n",
                                        response_metadata={"finish_reason": "length"}))
    assert limited.length_limit and not limited.in_reasoning and limited.truncated
    after_answer = split_reasoning(f"<think>a</think>\n{CODE}\n<think>\nmore")
    assert after_answer.in_reasoning and after_answer.answer == CODE
    assert after_answer.reasoning == "a\n\nmore"
