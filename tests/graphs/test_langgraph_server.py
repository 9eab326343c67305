"""The search served by `langgraph dev` from the repository's langgraph.json, driven over HTTP
with the LangGraph SDK the way LangGraph Studio and the Agent Chat UI drive it.

One server process for this module: the real CLI, the real in-memory API server, the model on
a scripted OpenAI-compatible server and the local sandbox in CPU mode. The server runs in a
temporary directory (it keeps its state in `.langgraph_api/` under the working directory) and is
given the repository's config file.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from langgraph_sdk import get_sync_client
from langgraph_sdk.client import SyncLangGraphClient

from tests.conftest import ROOT
from tests.openai_server import ScriptedOpenAIServer

from .chat_scripts import PROSE, REFERENCE, drafter
from .scripts import CORRECT, PROBLEM, Router, r1, with_drafts

HOST = "127.0.0.1"
GRAPH_ID = "kernel_search"
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 20.0


@pytest.fixture(scope="module")
def served(langgraph_cli: list[str], tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[SyncLangGraphClient]:
    """A client of `langgraph dev` serving the search; the server is stopped afterwards."""
    workdir = tmp_path_factory.mktemp("langgraph_dev")
    script = with_drafts(Router(lambda *_: r1(CORRECT), ["one block per program"]), drafter)
    with ScriptedOpenAIServer(script) as model:
        env = {**os.environ,
               "KERNEL_AGENT_PROFILE": "local", "KERNEL_AGENT_BASE_URL": model.base_url,
               "KERNEL_AGENT_MODEL": "scripted-model", "KERNEL_AGENT_CACHE": str(workdir / "cache"),
               "CUDA_VISIBLE_DEVICES": "",  # the sandbox runs kernels on the CPU
               "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGSMITH_TRACING": "false"}
        with _langgraph_dev(langgraph_cli, workdir, env) as url:
            yield get_sync_client(url=url, timeout=120.0)


def test_a_run_streams_progress_and_ends_with_the_best_kernel(served, tmp_path):
    run_dir = tmp_path / "run"
    thread = served.threads.create()
    parts = list(served.runs.stream(
        thread["thread_id"], GRAPH_ID,
        input={"problem_path": str(PROBLEM.resolve()), "budget": {"rounds": 1}},
        context={"branches": 1, "mode": "closed_loop", "run_dir": str(run_dir)},
        stream_mode=["custom", "values"]))

    assert not [part.data for part in parts if part.event == "error"]
    events = [part.data for part in parts if part.event == "custom"]
    names = [event["event"] for event in events]
    assert names[0] == "run_started" and names[-1] == "finished"
    assert "candidate_verified" in names and "new_best" in names
    started = events[0]
    assert started["branches"] == 1 and started["mode"] == "closed_loop"  # the run's context
    verified = next(event for event in events if event["event"] == "candidate_verified")
    assert verified["status"] == "pass"

    final = [part.data for part in parts if part.event == "values"][-1]
    assert final["chosen"]["code"] == CORRECT and final["chosen"]["status"] == "pass"
    answer = final["messages"][-1]
    assert answer["type"] == "ai" and answer["content"].startswith("Best kernel:")
    assert (run_dir / "best_kernel.py").read_text() == CORRECT
    state = served.threads.get_state(thread["thread_id"])
    assert state["values"]["chosen"]["id"] == final["chosen"]["id"] and not state["next"]


def test_a_chat_message_is_drafted_into_a_reference_to_approve(served, tmp_path):
    """What the Agent Chat UI sends: messages only. The run stops at the review interrupt with
    the drafted reference; resuming it with "yes" searches that reference."""
    thread_id = served.threads.create()["thread_id"]
    context = {"branches": 1, "mode": "closed_loop", "run_dir": str(tmp_path / "run")}
    parts = list(served.runs.stream(
        thread_id, GRAPH_ID, input={"messages": [{"type": "human", "content": PROSE}]},
        context=context, stream_mode="values"))
    assert not [part.data for part in parts if part.event == "error"]
    waiting = served.threads.get_state(thread_id)
    assert list(waiting["next"]) == ["review"]
    (interrupt,) = waiting["interrupts"]
    assert interrupt["value"]["reference"] == REFERENCE and interrupt["value"]["validation"]["ok"]

    parts = list(served.runs.stream(thread_id, GRAPH_ID, command={"resume": "yes"},
                                    context=context, stream_mode="values"))
    assert not [part.data for part in parts if part.event == "error"]
    final = [part.data for part in parts if part.event == "values"][-1]
    assert final["messages"][0]["content"] == PROSE
    assert final["chosen"]["code"] == CORRECT and "correct kernel found" in final["stop_reason"]
    assert final["messages"][-1]["content"].startswith("Best kernel:")
    assert (tmp_path / "run" / "search_1" / "reference.py").read_text() == REFERENCE



def test_studio_gets_the_graph_and_its_schemas(served):
    """What Studio asks first: the assistant for the graph and the forms for input and context."""
    (assistant,) = served.assistants.search(graph_id=GRAPH_ID)
    schemas = served.assistants.get_schemas(assistant["assistant_id"])
    context = schemas["context_schema"]["properties"]
    assert {"branches", "mode", "run_dir"} <= set(context)
    assert not {"model", "critic_model", "sandbox"} & set(context)
    assert {"problem_path", "problem_text", "messages"} <= set(
        schemas["input_schema"]["properties"])

@contextmanager
def _langgraph_dev(cli: list[str], workdir: Path, env: dict[str, str]) -> Iterator[str]:
    """`langgraph dev` on a free port in its own process group; yields its URL once ready.

    At the end SIGTERM lets the server shut down (closing its sandbox), then SIGKILL ends
    whatever of its process group is left.
    """
    port = _free_port()
    log_path = workdir / "server.log"
    command = [*cli, "dev", "--config", str(ROOT / "langgraph.json"), "--host", HOST,
               "--port", str(port), "--no-browser", "--no-reload"]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=workdir, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f"http://{HOST}:{port}"
        _wait_ready(url, process, log_path)
        yield url
    finally:
        _signal_group(process.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            process.wait(STOP_TIMEOUT_S)
        _signal_group(process.pid, signal.SIGKILL)
        process.wait()


def _wait_ready(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"langgraph dev exited with {process.returncode}:\n"
                        f"{log_path.read_text(errors='replace')[-4000:]}")
        with suppress(OSError), urllib.request.urlopen(f"{url}/ok", timeout=2) as reply:
            if reply.status == 200:
                return
        time.sleep(0.25)
    pytest.fail(f"langgraph dev not ready after {READY_TIMEOUT_S:g} s:\n"
                f"{log_path.read_text(errors='replace')[-4000:]}")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pid, sig)
