"""The LangChain tools called the way a chat model calls them: a tool call in, a ToolMessage out."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from langchain_core.messages import ToolMessage

from kernel_agent.sandbox import Sandbox
from kernel_agent.tools.langchain_tools import KernelWorkspace, make_tools
from tests.tools.helpers import DATA, source


def call(tool, args: dict, call_id: str = "call-1") -> ToolMessage:
    message = tool.invoke({"type": "tool_call", "name": tool.name, "args": args, "id": call_id})
    assert isinstance(message, ToolMessage) and message.tool_call_id == call_id
    return message


def full_output(content: str) -> str:
    match = re.search(r"\[full output: (.+)\]$", content)
    assert match, content
    return Path(match[1]).read_text()


@pytest.fixture
def tools(sandbox: Sandbox, tmp_path: Path) -> dict:
    workspace = KernelWorkspace(source("copy_problem.py"), tmp_path, sandbox=sandbox,
                                max_chars=900)
    return {tool.name: tool for tool in make_tools(workspace)}


def test_tools_offer_structured_arguments(tools: dict) -> None:
    assert set(tools) == {"compile_kernel", "test_kernel", "profile_kernel", "inspect_kernel"}
    schema = tools["inspect_kernel"].tool_call_schema.model_json_schema()
    assert schema["required"] == ["kernel"]
    assert schema["properties"]["view"]["enum"] == ["sass", "ptx", "ttgir", "ttir", "llir"]
    assert "code" in tools["compile_kernel"].args and "target" in tools["compile_kernel"].args
    assert all(len(tool.description) > 100 for tool in tools.values())


def test_compile_then_inspect_with_capped_replies(tools: dict) -> None:
    code = (DATA / "copy_vectorised.py").read_text()
    compiled = call(tools["compile_kernel"], {"code": code})
    assert compiled.content.startswith("compile: compiled for sm_")
    assert "kernel copy_kernel" in compiled.content and "registers/thread" in compiled.content

    inspected = call(tools["inspect_kernel"], {"kernel": "copy_kernel", "view": "sass"}, "c-2")
    assert len(inspected.content) <= 900
    assert re.search(r"\d+\s+LDG\.E\.128", inspected.content)
    assert "local memory: none" in inspected.content

    searched = call(tools["inspect_kernel"], {"kernel": "copy_kernel", "pattern": "STG",
                                              "histogram": False, "context": 0}, "c-3")
    assert re.search(r">\s*\d+: .*STG\.E\.128", searched.content)

    whole = call(tools["inspect_kernel"], {"kernel": "copy_kernel", "view": "ptx",
                                           "histogram": False}, "c-4")
    assert len(whole.content) <= 900 and "characters in all" in whole.content
    assert ".visible .entry copy_kernel" in full_output(whole.content)

    missing = call(tools["inspect_kernel"], {"kernel": "nope"}, "c-5")
    assert "compiled kernels: copy_kernel" in missing.content


def test_test_tool_gives_the_verdict(tools: dict) -> None:
    reply = call(tools["test_kernel"], {"code": (DATA / "copy_vectorised.py").read_text()})
    assert reply.content.startswith("verdict: PASS")
    reply = call(tools["test_kernel"], {"code": (DATA / "copy_torch_only.py").read_text()})
    assert reply.content.startswith("verdict: FAIL")
    assert "integrity flag no_custom_kernel (reject): " in reply.content


def test_test_tool_locates_wrong_results(sandbox: Sandbox, tmp_path: Path) -> None:
    workspace = KernelWorkspace(source("../scale_add_problem.py"), tmp_path, sandbox=sandbox)
    (test_kernel,) = [t for t in make_tools(workspace) if t.name == "test_kernel"]
    wrong = (DATA.parent / "scale_add_off_by_one.py").read_text()
    reply = call(test_kernel, {"code": wrong}).content
    assert reply.startswith("verdict: FAIL")
    assert re.search(r"trial 1/5 \(seed \d+\): 1/1000 elements outside tolerance; max abs err",
                     reply)
    assert "worst at output 0 index [999]" in reply


def test_profile_tool_and_missing_candidate(tools: dict) -> None:
    assert call(tools["profile_kernel"], {}).content.startswith("no candidate yet")
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the gpu profile tests cover this tool's real answer")
    reply = call(tools["profile_kernel"], {"code": (DATA / "copy_vectorised.py").read_text()})
    assert reply.content.startswith("profile: not available: no GPU")
