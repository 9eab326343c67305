"""`kernel-agent serve-mcp` driven by the MCP SDK's own client, over stdio and streamable HTTP.

The server runs as a real subprocess with a real sandbox; `optimize_kernel` searches with a
model on the scripted OpenAI-compatible server, configured through the environment the way a
user configures it.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import DATA, ROOT
from tests.graphs.scripts import CORRECT, Router, r1
from tests.openai_server import ScriptedOpenAIServer

PROBLEM = DATA / "scale_add_problem.py"
CANDIDATE = DATA / "scale_add_correct.py"
TOOLS = {"compile", "test", "profile", "inspect", "check", "optimize_kernel"}
SERVE = [sys.executable, "-m", "kernel_agent.agent.cli", "serve-mcp"]


def server_env(tmp_path: Path, base_url: str = "http://127.0.0.1:9/v1") -> dict[str, str]:
    """What the server needs: the model endpoint, and a cache and config home of its own."""
    return {"KERNEL_AGENT_PROFILE": "local", "KERNEL_AGENT_BASE_URL": base_url,
            "KERNEL_AGENT_MODEL": "scripted-model", "KERNEL_AGENT_CACHE": str(tmp_path / "cache"),
            "XDG_CONFIG_HOME": str(tmp_path / "config")}


def text_of(result: Any) -> str:
    return "\n".join(part.text for part in result.content)


def test_stdio_tools_check_compile_inspect(tmp_path: Path) -> None:
    stray: list[Exception] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, Exception):  # e.g. a stdout line that is not JSON-RPC
            stray.append(message)

    async def session() -> dict[str, Any]:
        params = StdioServerParameters(command=SERVE[0], args=[*SERVE[1:], "--work-dir",
                                                                str(tmp_path / "work")],
                                       env=server_env(tmp_path), cwd=str(ROOT))
        with (tmp_path / "stderr.txt").open("w") as errlog:
            async with (stdio_client(params, errlog=errlog) as (read, write),
                        ClientSession(read, write, message_handler=on_message) as client):
                await client.initialize()
                listed = await client.list_tools()
                relative = str(PROBLEM.relative_to(ROOT))
                source = CANDIDATE.read_text()
                return {
                    "tools": {tool.name: tool for tool in listed.tools},
                    "check": await client.call_tool("check", {
                        "problem": relative, "candidate": str(CANDIDATE), "trials": 2}),
                    "compile": await client.call_tool("compile", {
                        "problem": relative, "candidate": source}),
                    "inspect": await client.call_tool("inspect", {
                        "problem": relative, "candidate": source, "kernel": "scale_add_kernel",
                        "view": "sass", "pattern": "LDG", "context": 0}),
                    "missing": await client.call_tool("check", {
                        "problem": "no/such/problem.py", "candidate": source}),
                }

    results = anyio.run(session)

    assert set(results["tools"]) == TOOLS
    for name in TOOLS - {"optimize_kernel"}:
        schema = results["tools"][name].input_schema
        assert {"problem", "candidate"} <= set(schema["required"]), name
        assert "line break is taken as source text" in schema["properties"]["candidate"][
            "description"]

    check = text_of(results["check"])
    assert not results["check"].is_error and check.startswith("verdict: PASS"), check
    assert "correct on 2 trials" in check
    verdict = json.loads(Path(re.search(r"verdict JSON: (\S+)", check)[1]).read_text())
    assert verdict["status"] == "pass" and len(verdict["trials"]) == 2

    compiled = text_of(results["compile"])
    assert compiled.startswith("compile: compiled for sm_90"), compiled
    assert "kernel scale_add_kernel: 1 launch" in compiled and "registers/thread" in compiled
    artifacts = Path(re.search(r"artifacts \(.*\): (\S+)", compiled)[1])
    assert (artifacts / "scale_add_kernel" / "scale_add_kernel.sass").is_file()

    inspected = text_of(results["inspect"])
    assert inspected.startswith("SASS of scale_add_kernel"), inspected
    assert "compiled the current candidate first" not in inspected, "the compile is reused"
    assert str(artifacts) in inspected and re.search(r">\s*\d+: .*LDG\.E", inspected)

    assert results["missing"].is_error
    assert "problem file not found: no/such/problem.py" in text_of(results["missing"])
    assert stray == [], "stdout carried something other than the protocol"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[str, ScriptedOpenAIServer, Path]]:
    """serve-mcp over HTTP on a free port, its optimize_kernel model on the scripted server."""
    work = tmp_path / "work"
    with ScriptedOpenAIServer(Router(lambda *_: r1(CORRECT), ["one block per program"])) as llm:
        port = free_port()
        process = subprocess.Popen(
            [*SERVE, "--transport", "http", "--port", str(port), "--work-dir", str(work)],
            env={**os.environ, **server_env(tmp_path, llm.base_url)}, cwd=ROOT,
            stdout=subprocess.DEVNULL, stderr=(tmp_path / "stderr.txt").open("w"))
        try:
            deadline = time.monotonic() + 60
            while True:
                assert process.poll() is None, (tmp_path / "stderr.txt").read_text()
                assert time.monotonic() < deadline, "the HTTP server did not start"
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            yield f"http://127.0.0.1:{port}/mcp", llm, work
        finally:
            process.terminate()
            process.wait(timeout=30)


def test_http_optimize_kernel_searches_with_the_configured_model(http_server) -> None:
    url, llm, work = http_server
    progress: list[str] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    async def session() -> dict[str, Any]:
        async with (streamable_http_client(url) as (read, write),
                    ClientSession(read, write) as client):
            await client.initialize()
            listed = await client.list_tools()
            return {
                "tools": {tool.name for tool in listed.tools},
                "optimize": await client.call_tool("optimize_kernel", {
                    "reference": PROBLEM.read_text(), "budget_minutes": 5, "branches": 1},
                    progress_callback=on_progress),
                "broken": await client.call_tool("optimize_kernel", {
                    "reference": "import torch\nclass Model(:\n    pass\n"}),
            }

    results = anyio.run(session)

    assert results["tools"] == TOOLS
    answer = text_of(results["optimize"])
    assert not results["optimize"].is_error and answer.startswith("status: pass"), answer
    assert "speedup: not timed" in answer and "candidates verified: 1, passed: 1" in answer
    kernel = Path(re.search(r"best kernel: (\S+)", answer)[1])
    assert kernel.read_text() == CORRECT and CORRECT.strip() in answer
    run_dir = Path(re.search(r"run directory: (\S+)", answer)[1])
    assert run_dir.parent == work / "runs" and kernel.parent == run_dir
    assert (run_dir / "problem.py").read_text() == PROBLEM.read_text()
    assert llm.requests, "the search asked the configured endpoint"
    assert {m["model"] for m in llm.requests} == {"scripted-model"}
    assert progress[0].startswith("run_started") and progress[-1].startswith("finished")
    assert any(m.startswith("candidate_verified") and "status=pass" in m for m in progress)

    assert results["broken"].is_error
    assert "problem reference_code:2: syntax error" in text_of(results["broken"])
    assert len(list((work / "runs").iterdir())) == 1, "a bad reference starts no run"
