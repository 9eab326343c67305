"""`optimize_kernel` called by another agent: a ReAct agent whose model (the scripted server)
calls the tool, and the search inside the tool asking the same server for kernels. The
embedding examples run the same way, as the scripts a user starts."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage, ToolMessage

from kernel_agent.graphs.optimize_tool import make_optimize_kernel_tool, optimize_kernel
from tests.conftest import ROOT
from tests.openai_server import Reply, Scripted, ScriptedOpenAIServer, ToolCall, message_text

from .conftest import chat_model
from .scripts import BROKEN, CORRECT, PROBLEM, Router, r1

BROKEN_REFERENCE = PROBLEM.read_text().replace("class Model(nn.Module):", "class Model(nn.Module)")
assert "class Model(nn.Module)\n" in BROKEN_REFERENCE
CODE_BLOCK = re.compile(r"```python\n(.*?)```", re.S)


class ScriptedAgent:
    """The calling agent's turns, told apart from the search's requests by the tool offered:
    it first sends `first_reference`, then the reference from the user's message once the tool
    rejects one, then answers with the lines of the tool's reply that name the kernel."""

    def __init__(self, search: Router, first_reference: str | None = None) -> None:
        self.search, self.first_reference = search, first_reference

    def __call__(self, request: dict[str, Any]) -> Scripted:
        offered = {tool["function"]["name"] for tool in request.get("tools", [])}
        if "optimize_kernel" not in offered:
            return self.search(request)
        replies = [m["content"] for m in request["messages"] if m["role"] == "tool"]
        if replies and not replies[-1].startswith("status: bad reference"):
            kept = [line for line in replies[-1].splitlines()
                    if line.startswith(("status:", "speedup:", "best kernel:"))]
            return Reply(content="The kernel search is done.\n" + "\n".join(kept))
        user = next(m["content"] for m in request["messages"] if m["role"] == "user")
        reference = (self.first_reference if not replies and self.first_reference
                     else CODE_BLOCK.search(user)[1])
        return Reply(content="", tool_calls=[ToolCall("optimize_kernel", {
            "reference_code": reference, "budget_minutes": 5, "branches": 1})])


def by_round(round_: int, idea: str, request: dict) -> Reply:
    return r1(BROKEN if round_ == 1 else CORRECT)


def test_agent_calls_optimize_kernel_and_reports_the_kernel(tmp_path: Path, sandbox) -> None:
    from langgraph.prebuilt import create_react_agent

    script = ScriptedAgent(Router(by_round, ["one block per program"]), BROKEN_REFERENCE)
    with ScriptedOpenAIServer(script) as server:
        tool = make_optimize_kernel_tool(model=chat_model(server), mode="closed_loop",
                                         sandbox=sandbox, run_root=tmp_path / "runs")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            agent = create_react_agent(chat_model(server), [tool])
        question = f"Make this fast:\n```python\n{PROBLEM.read_text()}```"
        messages = agent.invoke({"messages": [HumanMessage(question)]})["messages"]
        searched = [r for r in server.requests if "tools" not in r]

    rejected, answered = [m for m in messages if isinstance(m, ToolMessage)]
    assert rejected.content.startswith("status: bad reference"), rejected.content
    assert "reference_code:7: syntax error" in rejected.content, "the exact line is named"
    assert len(list((tmp_path / "runs").iterdir())) == 1, "a rejected reference starts no run"

    assert answered.content.startswith("status: pass"), answered.content
    assert "rounds: 2; candidates verified: 2, passed: 1" in answered.content
    kernel = Path(re.search(r"best kernel: (\S+)", answered.content)[1])
    assert kernel.read_text() == CORRECT and CORRECT.strip() in answered.content
    assert kernel.parent.parent == tmp_path / "runs"
    assert (kernel.parent / "problem.py").read_text() == PROBLEM.read_text()
    assert "speedup: not timed" in answered.content
    assert f"run directory: {kernel.parent}" in answered.content
    assert any("syntax error" in message_text(r) for r in searched), \
        "round 1's failure reached the search's next prompt"

    final = messages[-1].content
    assert f"best kernel: {kernel}" in final and "status: pass" in final


def test_plain_tool_answers_errors_instead_of_raising(monkeypatch, tmp_path: Path,
                                                     private_cache: Path) -> None:
    """The module-level tool reads the configured endpoint; none configured is an answer."""
    for name in ("KERNEL_AGENT_BASE_URL", "KERNEL_AGENT_MODEL", "KERNEL_AGENT_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KERNEL_AGENT_PROFILE", "local")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    reply = optimize_kernel.invoke({"reference_code": PROBLEM.read_text()})
    assert reply.startswith("status: error\nerror: No model endpoint is configured"), reply
    assert "profile 'local' has no base URL" in reply and "KERNEL_AGENT_BASE_URL" in reply
    assert (private_cache / "runs").is_dir(), "run directories go under the user's cache"

    message = optimize_kernel.invoke({"type": "tool_call", "name": "optimize_kernel", "id": "c1",
                                      "args": {"reference_code": "x", "branches": 0}})
    assert isinstance(message, ToolMessage)
    assert message.content == ("status: bad arguments\nerror: branches: Input should be "
                               "greater than or equal to 1")


def start_example(name: str, server: ScriptedOpenAIServer, tmp_path: Path,
                  *extra: str) -> subprocess.Popen[str]:
    """The example as a user runs it, configured by its flags alone."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("KERNEL_AGENT_") or k == "KERNEL_AGENT_CACHE"}
    return subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "embedding" / name), "--base-url",
         server.base_url, "--model", "scripted-model", "--problem", str(PROBLEM),
         "--minutes", "5", "--branches", "1", *extra],
        env={**env, "XDG_CONFIG_HOME": str(tmp_path / "config")}, cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_examples_run_against_an_openai_compatible_endpoint(tmp_path: Path) -> None:
    search = Router(lambda *_: r1(CORRECT), ["one block per program"])
    with ScriptedOpenAIServer(ScriptedAgent(search)) as server:
        started = [start_example("subgraph_example.py", server, tmp_path,
                                 "--run-dir", str(tmp_path / "subgraph")),
                   start_example("agent_tool_example.py", server, tmp_path,
                                 "--run-root", str(tmp_path / "runs"))]
        (subgraph, out, err), (as_tool, tool_out, tool_err) = [
            (p, *p.communicate(timeout=300)) for p in started]
        agent_turns = [r for r in server.requests
                       if "optimize_kernel" in {t["function"]["name"] for t in r.get("tools", [])}]

    assert subgraph.returncode == 0, err
    assert "[search] run_started" in out and "[search] finished" in out
    assert "speed up scale_add_problem.py: verified kernel" in out
    assert f"best kernel: {tmp_path / 'subgraph' / 'best_kernel.py'}" in out
    assert (tmp_path / "subgraph" / "best_kernel.py").read_text() == CORRECT
    assert CORRECT.strip() in out

    assert as_tool.returncode == 0, tool_err
    assert len(agent_turns) == 2, "a tool call, then the answer"
    assert "budget of 5 minutes and 1 branch" in message_text(agent_turns[0])
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert (run_dir / "best_kernel.py").read_text() == CORRECT
    assert "status: pass" in tool_out
    assert f"best kernel: {run_dir / 'best_kernel.py'}" in tool_out.splitlines()[-1]
