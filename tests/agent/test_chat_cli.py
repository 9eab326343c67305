"""`kernel-agent chat` end to end: the real command in a child process fed a script of lines on
stdin, the real langchain-openai client against the scripted OpenAI server in this process, the
real local sandbox, the conversation checkpointed in SQLite in the run directory.

Covered: a session (prose, approval, follow-up, approval, end of input) that shows the drafted
reference, finds a kernel, and runs the follow-up as a second search on the same thread, each
search in its own folder with the accumulated request; an approval of a draft that cannot be
used, refused with the reason and no model call; a session that ends while a draft waits for
its answer and is continued by a second process; bad input.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage
from langgraph.checkpoint.sqlite import SqliteSaver

from kernel_agent.graphs import build_graph
from tests.conftest import ROOT
from tests.graphs.chat_scripts import (
    CORRECT_REVISED,
    FOLLOW_UP,
    PROSE,
    REFERENCE,
    REVISED,
    chat_script,
)
from tests.graphs.scripts import CORRECT, is_draft, r1
from tests.openai_server import Reply, ScriptedOpenAIServer, message_text

CLI = [sys.executable, "-m", "kernel_agent.agent.cli", "chat"]


def chat(lines: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], input="".join(f"{line}\n" for line in lines),
                          cwd=ROOT, env={**os.environ, "COLUMNS": "200"},
                          capture_output=True, text=True, timeout=300)


def flags(server: ScriptedOpenAIServer, out: Path) -> list[str]:
    return ["--profile", "local", "--base-url", server.base_url, "--model", "scripted-model",
            "--out", str(out), "--branches", "1", "--rounds", "2", "--budget", "5m"]


def thread_values(run_dir: Path) -> tuple[str, dict[str, Any]]:
    """The thread id run.json names, and that thread's state in the run's checkpoints."""
    thread_id = json.loads((run_dir / "run.json").read_text())["thread_id"]
    with closing(sqlite3.connect(run_dir / "checkpoints.sqlite")) as conn:
        graph = build_graph(checkpointer=SqliteSaver(conn))
        values = graph.get_state({"configurable": {"thread_id": thread_id}}).values
    return thread_id, values


def test_a_session_drafts_searches_and_follows_up_on_the_same_thread(tmp_path):
    out = tmp_path / "run"
    with ScriptedOpenAIServer(chat_script()) as server:
        done = chat([PROSE, "yes", FOLLOW_UP, "yes"], *flags(server, out))
        requests = server.requests
    text = done.stdout
    assert done.returncode == 0, text + done.stderr

    thread_id, values = thread_values(out)
    assert f"new conversation {thread_id} in {out}" in text
    first_review = text.index("reference problem, draft 1")
    assert "class Model(nn.Module):" in text[first_review:]
    assert "        return 2 * x + b" in text[first_review:], "the drafted reference is shown"
    assert "runs in the sandbox on cpu" in text
    first, second = text.index("search 1: pass"), text.index("search 2: pass")
    assert "return 3 * x + b" in text[first:second], "the revised reference is shown"
    assert "tl.store(out_ptr + offsets, 3 * x + b, mask=mask)" in text[second:]
    assert text.count("started ") == 2 and "round 1 branch 0: PASS" in text

    assert values["chosen"]["code"] == CORRECT_REVISED
    (archived,) = values["searches"]
    assert archived["chosen"]["code"] == CORRECT
    said = [m.content for m in values["messages"] if isinstance(m, HumanMessage)]
    assert said == [PROSE, FOLLOW_UP]
    # each search keeps its own folder: nothing of the first is overwritten by the second
    first_dir, second_dir = out / "search_1", out / "search_2"
    assert (first_dir / "reference.py").read_text() == REFERENCE
    assert (second_dir / "reference.py").read_text() == REVISED
    assert not (first_dir / "reference.diff").exists()
    diff = (second_dir / "reference.diff").read_text()
    assert "-        return 2 * x + b\n+        return 3 * x + b\n" in diff
    assert (first_dir / "best_kernel.py").read_text() == CORRECT
    assert (second_dir / "best_kernel.py").read_text() == CORRECT_REVISED
    assert f"saved: {second_dir / 'best_kernel.py'}" in text[second:]
    assert f"report: {first_dir / 'report.md'}" in text[first:second]
    assert f"since the last search: {second_dir / 'reference.diff'}" in text[second:]
    assert "since the last search" not in text[first:second]
    # the request keeps the whole intent: the follow-up adds to the first message
    assert f"Request: {PROSE}\n" in (first_dir / "report.md").read_text()
    assert f"Request: {PROSE} Then: {FOLLOW_UP}\n" in (second_dir / "report.md").read_text()
    assert f"request: {PROSE} Then: {FOLLOW_UP}" in text[first:second]
    recorded = [json.loads(line) for line in (out / "candidates.jsonl").open()]
    assert [c["code"] for c in recorded] == [CORRECT, CORRECT_REVISED]

    drafts = [message_text(r) for r in requests if is_draft(r)]
    assert len(drafts) == 2 and "return 2 * x + b" in drafts[1] and FOLLOW_UP in drafts[1]
    later = [message_text(r) for r in requests if "return 3 * x + b" in message_text(r)
             and not is_draft(r) and "Optimisation idea" in message_text(r)]
    assert later and CORRECT.strip() in later[0], "the first kernel is offered as a start"


def test_a_session_ended_at_the_review_is_continued_by_the_next(tmp_path):
    out = tmp_path / "run"
    with ScriptedOpenAIServer(chat_script()) as server:
        first = chat([PROSE], *flags(server, out))
        second = chat(["make the small inputs smaller", "y"], *flags(server, out))
        drafts = [r for r in server.requests if is_draft(r)]
    assert first.returncode == 0, first.stdout + first.stderr
    assert "the drafted reference waits for your answer" in first.stdout
    assert "search 1" not in first.stdout
    assert second.returncode == 0, second.stdout + second.stderr
    thread_id, values = thread_values(out)
    assert f"continuing conversation {thread_id}" in second.stdout
    assert second.stdout.index("reference problem, draft 1") < second.stdout.index(
        "reference problem, draft 2"), "the waiting draft is shown again, then the redraft"
    assert len(drafts) == 2 and "make the small inputs smaller" in message_text(drafts[1])
    assert "search 1: pass" in second.stdout
    assert values["chosen"]["code"] == CORRECT_REVISED  # the redraft revised the reference


def test_ctrl_c_exits_at_once_and_the_next_session_continues(tmp_path):
    """Ctrl-C while the model drafts (a reply that would take two minutes): the command ends at
    once with how to continue, and the next session on the same --out picks the draft up."""
    out = tmp_path / "run"
    slow = chat_script(lambda request: Reply(content="never read", delay_s=120))
    with ScriptedOpenAIServer(slow) as server:
        process = subprocess.Popen([*CLI, *flags(server, out)], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   cwd=ROOT, env={**os.environ, "COLUMNS": "200"})
        assert process.stdin is not None
        process.stdin.write(f"{PROSE}\n")
        process.stdin.flush()
        deadline = time.monotonic() + 120
        while not any(is_draft(r) for r in server.requests):
            assert time.monotonic() < deadline, "the draft was never asked for"
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=20)
    assert process.returncode == 130, stdout + stderr
    assert f"continue with: kernel-agent chat --out {out}" in stderr
    assert "Traceback" not in stderr

    with ScriptedOpenAIServer(chat_script()) as server:
        again = chat(["y"], *flags(server, out))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "continuing conversation" in again.stdout and "search 1: pass" in again.stdout


def test_bad_budget_is_refused_before_anything_starts(tmp_path):
    done = chat([PROSE], "--budget", "soon", "--out", str(tmp_path / "run"))
    assert done.returncode == 2
    assert "bad duration 'soon'" in done.stderr
    assert not (tmp_path / "run").exists()


MISMATCHED = REFERENCE.replace("torch.randn(16, 63), torch.randn(16, 63)",
                               "torch.randn(16, 63), torch.randn(15, 63)")
FIX = "give b the same shape as x"


def test_yes_to_a_draft_that_cannot_be_used_says_why_and_asks_again(tmp_path):
    out = tmp_path / "run"

    def drafter(request: dict[str, Any]):
        return r1(REFERENCE if FIX in message_text(request) else MISMATCHED)

    with ScriptedOpenAIServer(chat_script(drafter)) as server:
        done = chat([PROSE, "yes", FIX, "yes"], *flags(server, out))
        drafts = [message_text(r) for r in server.requests if is_draft(r)]
    text = done.stdout
    assert done.returncode == 0, text + done.stderr
    refused = text.index("approve? [yes / e to edit / what to change]> yes")
    after = text[refused:]
    assert after.index("Draft 1 cannot be approved: it cannot be used (") < after.index(
        f"> {FIX}"), "the reason comes right after the refused yes"
    assert "must match the size of tensor" in after.split("\n")[1]
    # the three drafting answers of the first draft, then one for the change: no silent redraft
    assert len(drafts) == 4 and FIX in drafts[3] and FIX not in drafts[2]
    assert "reference problem, draft 2" in after and "search 1: pass" in after
    assert (out / "search_1" / "reference.py").read_text() == REFERENCE
    assert f"Request: {PROSE} Then: {FIX}\n" in (out / "search_1" / "report.md").read_text()
