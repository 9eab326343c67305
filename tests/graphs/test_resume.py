"""A search killed with SIGKILL in the middle of a round resumes by thread id and finishes
without verifying anything twice and without asking the model again for what it had answered.

The child process runs two branches for two rounds. In round 2, branch 0's candidate verifies
fast while branch 1's sleeps on import; the child is killed as soon as branch 0's verdict is in
candidates.jsonl, i.e. with branch 1's verification in flight.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from kernel_agent.graphs import run_search
from kernel_agent.graphs.rundir import RunDir
from tests.conftest import ROOT
from tests.openai_server import ScriptedOpenAIServer

from .conftest import chat_model
from .scripts import (
    BROKEN,
    CORRECT,
    OFF_BY_ONE,
    PROBLEM,
    CountingSandbox,
    Router,
    r1,
    requests_of,
)

IDEAS = ["one block per program", "a grid-stride loop"]
SLOW_IMPORT = "import time\n\ntime.sleep(3)\n" + CORRECT


def kernels(round_: int, idea: str, request: dict) -> object:
    first = idea == IDEAS[0]
    if round_ == 1:
        return r1(OFF_BY_ONE if first else BROKEN)
    return r1(CORRECT if first else SLOW_IMPORT)


def wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_killed_search_resumes_without_verifying_twice(tmp_path, sandbox):
    run_dir, log = tmp_path / "run", tmp_path / "verify_calls.log"
    candidates = run_dir / "candidates.jsonl"
    with ScriptedOpenAIServer(Router(kernels, IDEAS)) as server:
        args = {"base_url": server.base_url, "run_dir": str(run_dir), "log": str(log)}
        with open(tmp_path / "child.out", "w") as out:
            child = subprocess.Popen([sys.executable, "-m", "tests.graphs.search_child",
                                      json.dumps(args)], cwd=ROOT, stdout=out,
                                     stderr=subprocess.STDOUT, env={**os.environ})
        try:
            wait_for(lambda: any(c["round"] == 2 for c in lines(candidates)) or
                     child.poll() is not None, 90, "round 2's first verdict")
            assert child.poll() is None, (tmp_path / "child.out").read_text()
            child.send_signal(signal.SIGKILL)
        finally:
            child.kill()
            child.wait()
        before = lines(candidates)
        assert sorted((c["round"], c["branch"]) for c in before) == [(1, 0), (1, 1), (2, 0)]
        assert len(log.read_text().splitlines()) == 3, "branch 1 was still being verified"
        asked_before = len(requests_of(server.requests, "generate"))
        assert asked_before == 4

        thread_id = json.loads((run_dir / "run.json").read_text())["thread_id"]
        counting = CountingSandbox(sandbox, log)
        result = run_search(PROBLEM, run_dir, model=chat_model(server), mode="closed_loop",
                            branches=2, rounds=2, sandbox=counting, resume=True,
                            thread_id=thread_id)
        requests = server.requests

    assert result.status == "pass" and result.thread_id == thread_id
    verified = counting.verified()
    assert len(verified) == 4 and len(set(verified)) == 4, f"verified twice: {verified}"
    after = lines(candidates)
    assert len(after) == 4 and len({c["id"] for c in after}) == 4
    assert after[:3] == before, "what was recorded before the kill is untouched"
    assert sorted(c["id"] for c in result.candidates) == sorted(c["id"] for c in after)
    assert len(requests_of(requests, "generate")) == asked_before, "no answer was asked twice"
    assert len(requests_of(requests, "critic")) == 2 and len(requests_of(requests, "plan")) == 1
    assert result.chosen is not None and result.chosen["code"] in (CORRECT, SLOW_IMPORT)
    assert (run_dir / "best_kernel.py").read_text() == result.chosen["code"]
    # two passed: the finalists went to the re-timing task, which cannot time without a GPU
    assert "Finalists not re-timed: not measured: no GPU" in result.report.read_text()


def test_verdict_already_in_the_run_dir_is_reused(tmp_path, sandbox):
    """The window between writing candidates.jsonl and the checkpoint: a verify step that finds
    its candidate recorded reuses the verdict instead of verifying again. (Kernel memory is off:
    it would offer the first run's kernel to the second, which is another mechanism.)"""
    router = Router(lambda *_: r1(CORRECT), IDEAS[:1])
    with ScriptedOpenAIServer(router) as server:
        first = run_search(PROBLEM, tmp_path / "first", model=chat_model(server),
                           mode="closed_loop", branches=1, rounds=1, sandbox=sandbox,
                           use_memory=False)
        second_dir = tmp_path / "second"
        second_dir.mkdir()
        (second_dir / "candidates.jsonl").write_text(
            (first.run_dir / "candidates.jsonl").read_text())
        counting = CountingSandbox(sandbox, tmp_path / "verify_calls.log")
        events: list[dict] = []
        second = run_search(PROBLEM, second_dir, model=chat_model(server), mode="closed_loop",
                            branches=1, rounds=1, sandbox=counting, on_event=events.append,
                            use_memory=False)

    assert second.status == "pass" and counting.verified() == []
    verified = [e for e in events if e["event"] == "candidate_verified"]
    assert len(verified) == 1 and verified[0]["reused"] is True
    assert second.chosen == first.chosen
    assert len(lines(second_dir / "candidates.jsonl")) == 1, "not recorded twice"


def test_a_line_torn_by_a_kill_does_not_hide_later_ones(tmp_path):
    run_dir = RunDir(tmp_path)
    run_dir.record({"id": "a"})
    with open(run_dir.candidates_file, "a") as f:
        f.write('{"id": "b", "verdict": {"sta')  # the process died mid-write
    run_dir.record({"id": "c"})
    assert [c["id"] for c in run_dir.candidates()] == ["a", "c"]
    assert run_dir.recorded("c") == {"id": "c"} and run_dir.recorded("b") is None
