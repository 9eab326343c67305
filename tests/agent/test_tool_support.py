"""Tool support is told by the endpoint's answer; the prompt names the tools as registered."""

from __future__ import annotations

import re

import pytest

from kernel_agent.agent.models import ModelConfig, uses_tools
from kernel_agent.agent.tool_support import refuses_tools
from kernel_agent.graphs.context import Context
from kernel_agent.graphs.toolloop import submit_tool, tools_note
from kernel_agent.tools.langchain_tools import KernelWorkspace, make_tools

VLLM = ("Error code: 400 - {'error': {'message': '\"auto\" tool choice requires "
        "--enable-auto-tool-choice and --tool-call-parser to be set', 'type': "
        "'BadRequestError', 'code': 400}}")


@pytest.mark.parametrize(("error", "refused"), [
    (VLLM, True),
    ("Error code: 400 - {'error': {'message': 'tools is not supported for this model'}}", True),
    ("Error code: 400 - {'error': {'message': 'llama3 does not support tools'}}", True),
    ("Error code: 400 - {'error': {'message': 'function calling is not enabled'}}", True),
    ("Error code: 400 - {'error': {'message': \"Invalid 'tools': function name must match "
     "^[a-zA-Z0-9_-]+$\"}}", True),
    ("Error code: 400 - {'error': {'message': 'max_tokens is too large: 99999'}}", False),
    ("Error code: 500 - {'error': {'message': 'tool parser crashed'}}", False),
    ("Connection error.", False),
])
def test_a_bad_request_about_tools_is_a_refusal(error, refused):
    assert refuses_tools(error) is refused


@pytest.mark.parametrize(("model", "mode", "tools"), [
    ("deepseek-ai/deepseek-r1", "auto", False),
    ("deepseek-r1-distill-qwen-32b", "auto", False),
    ("Qwen/QwQ-32B", "auto", True),  # tried with tools first; a refusal decides
    ("Qwen/Qwen3-32B", "auto", True),
    ("", "auto", True),
    ("Qwen/Qwen3-32B", "closed_loop", False),
    ("deepseek-ai/deepseek-r1", "tools", True),
])
def test_auto_tries_tools_first_except_for_r1_style_models(model, mode, tools):
    config = ModelConfig(profile="local", model=model, base_url="http://x/v1", mode=mode)
    assert uses_tools(config) is tools


def test_the_prompt_names_every_tool_exactly_as_registered(tmp_path):
    tools = [*make_tools(KernelWorkspace({"text": "", "path": "p.py"}, tmp_path)),
             submit_tool()]
    note = tools_note(tools)
    named = set(re.findall(r"`([a-z_]+)`", note))
    assert named - {"code"} == {tool.name for tool in tools}
    for word in ("compile", "test", "profile", "inspect", "submit"):
        assert f"`{word}`" not in note


def test_a_refusal_is_remembered_for_the_run_and_across_a_resume(tmp_path):
    config = ModelConfig(profile="local", model="Qwen/Qwen3-32B", base_url="http://x/v1")
    context = Context(model=config, run_dir=str(tmp_path / "run"))
    assert context.tools_mode()
    context.refuse_tools("Error code: 400 - tool choice requires --tool-call-parser")
    assert not context.tools_mode()
    resumed = Context(model=config, run_dir=str(tmp_path / "run"), mode="tools")
    assert not resumed.tools_mode()
    assert "tool-call-parser" in (resumed.tools_refused() or "")
    assert Context(model=config, run_dir=str(tmp_path / "other")).tools_mode()
