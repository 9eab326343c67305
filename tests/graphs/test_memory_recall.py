"""Kernel memory in the search: passing kernels are remembered, an exact match is re-verified
and offered as the starting point (or is the answer, with no model), a remembered kernel that
fails here is not reused, and kernels of similar problems reach the prompt as worked examples."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel_agent.agent.prompts import WORKED_EXAMPLES
from kernel_agent.graphs import run_search
from kernel_agent.tools.check import verify_sources
from kernel_agent.tools.memory import KernelMemory
from tests.openai_server import ScriptedOpenAIServer, message_text

from .conftest import chat_model
from .scripts import CORRECT, OFF_BY_ONE, PROBLEM, Router, r1, requests_of

REMEMBERED_MARK = "A kernel remembered for exactly this problem"
SIMILAR_MARK = WORKED_EXAMPLES.strip().splitlines()[0][:40]


@pytest.fixture
def memory(tmp_path: Path, sandbox) -> KernelMemory:
    return KernelMemory(tmp_path / "memory.sqlite", sandbox=sandbox)


def search(server: ScriptedOpenAIServer, problem: Path, run_dir: Path, sandbox,
           memory: KernelMemory, **options):
    return run_search(problem, run_dir, model=chat_model(server), mode="closed_loop",
                      branches=1, rounds=1, sandbox=sandbox, memory=memory, **options)


def test_a_solved_problem_is_remembered_and_offered_again(tmp_path, sandbox, memory):
    with ScriptedOpenAIServer(Router(lambda *_: r1(CORRECT), ["one block"])) as server:
        first = search(server, PROBLEM, tmp_path / "first", sandbox, memory)
        assert first.status == "pass"
        remembered = memory.lookup_exact(PROBLEM.read_text())
        assert [entry.source for entry in remembered] == [CORRECT]
        assert remembered[0].origin == str(tmp_path / "first")

        second = search(server, PROBLEM, tmp_path / "second", sandbox, memory)
        generate = requests_of(server.requests, "generate")

    reverified = [c for c in second.candidates if c["round"] == 0]
    assert len(reverified) == 1 and reverified[0]["status"] == "pass"
    assert reverified[0]["code"] == CORRECT and reverified[0]["id"].startswith("mem")
    # The first search's prompt had nothing remembered; the second's starts from the kernel.
    assert REMEMBERED_MARK not in message_text(generate[0])
    assert REMEMBERED_MARK in message_text(generate[-1])
    assert "def scale_add" in message_text(generate[-1]).split(REMEMBERED_MARK)[1]
    assert memory.count() == 1  # the same kernel on the same machine is one entry


def test_recall_only_answers_from_memory_without_a_model(tmp_path, sandbox, memory):
    problem = {"text": PROBLEM.read_text(), "path": str(PROBLEM)}
    verdict = verify_sources(problem, {"text": CORRECT, "path": "k.py"}, sandbox=sandbox)
    memory.remember(problem["text"], CORRECT, verdict.to_dict(), origin="test")

    result = run_search(PROBLEM, tmp_path / "run", model="no-such-profile", branches=1,
                        sandbox=sandbox, memory=memory, recall_only=True)

    assert result.status == "pass" and result.chosen["code"] == CORRECT
    assert result.stop_reason == "remembered kernel re-verified on this machine"
    assert result.best_kernel.read_text() == CORRECT
    assert result.rounds == 0 and result.tokens_used == 0


def test_a_remembered_kernel_that_fails_here_is_not_reused(tmp_path, sandbox, memory):
    """Memory trusts no record: a kernel stored as passing (another machine, another version)
    that fails this machine's verifier is neither the answer nor the starting point."""
    problem = {"text": PROBLEM.read_text(), "path": str(PROBLEM)}
    verdict = verify_sources(problem, {"text": CORRECT, "path": "k.py"}, sandbox=sandbox)
    memory.remember(problem["text"], OFF_BY_ONE, verdict.to_dict(), origin="elsewhere")

    only = run_search(PROBLEM, tmp_path / "only", branches=1, sandbox=sandbox, memory=memory,
                      recall_only=True)
    assert only.status == "fail" and only.chosen is None
    assert only.stop_reason == "no remembered kernel passes here"
    assert [c["status"] for c in only.candidates] == ["fail"]

    with ScriptedOpenAIServer(Router(lambda *_: r1(CORRECT), ["one block"])) as server:
        searched = search(server, PROBLEM, tmp_path / "searched", sandbox, memory)
        generate = requests_of(server.requests, "generate")
    assert REMEMBERED_MARK not in message_text(generate[0])
    assert searched.chosen["code"] == CORRECT and searched.chosen["round"] == 1


def test_a_changed_problem_gets_similar_kernels_as_examples_not_as_answers(
        tmp_path, sandbox, memory):
    problem = {"text": PROBLEM.read_text(), "path": str(PROBLEM)}
    verdict = verify_sources(problem, {"text": CORRECT, "path": "k.py"}, sandbox=sandbox)
    memory.remember(problem["text"], CORRECT, verdict.to_dict(), origin="test")
    changed = tmp_path / "scale_add_wider.py"
    changed.write_text(PROBLEM.read_text().replace("torch.randn(1000)", "torch.randn(3000)"))

    only = run_search(changed, tmp_path / "only", branches=1, sandbox=sandbox, memory=memory,
                      recall_only=True)
    assert only.chosen is None and only.candidates == []
    assert only.stop_reason == "kernel memory holds no kernel for this problem"

    with ScriptedOpenAIServer(Router(lambda *_: r1(CORRECT), ["one block"])) as server:
        search(server, changed, tmp_path / "searched", sandbox, memory)
        generate = requests_of(server.requests, "generate")
    prompt = message_text(generate[0])
    assert REMEMBERED_MARK not in prompt
    assert SIMILAR_MARK in prompt and "def scale_add" in prompt.split(SIMILAR_MARK)[1]
