"""A resident judge forks the next task's candidate process once it has answered (judge.settle):
the next verdict finds it started and its CUDA context made. It must serve exactly as a process
forked for the task would: with the task's log as its output, and never when it has ended."""

from __future__ import annotations

import os
import select
import signal
import time
from collections.abc import Iterator

import pytest

from kernel_agent.tools import candidate_link, judge

from ..conftest import ROOT

PROBLEM = ROOT / "tests" / "data" / "scale_add_problem.py"
# Written to the descriptors themselves: under pytest, sys.stdout in this process (and so in its
# forks) is pytest's capture, not descriptor 1 as in a sandbox's worker.
PRINTING = '''
import os

import torch
from torch import nn

os.write(1, b"printed by the candidate\\n")
os.write(2, b"and on its stderr\\n")


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return 2 * x + b
'''


@pytest.fixture
def zygote() -> Iterator[None]:
    judge.ZYGOTE.start()
    try:
        yield
    finally:
        judge.SPARE.clear()
        judge.ZYGOTE.stop()


def test_the_spare_serves_the_next_task_and_writes_into_its_log(zygote, tmp_path) -> None:
    assert judge.settle() == "" and len(judge.SPARE) == 1
    spare = judge.SPARE[0]
    assert judge.settle() == ""
    assert len(judge.SPARE) == 1 and judge.SPARE[0] is spare, "one spare at a time"
    child, origin = judge.candidate_process()
    assert child.pid == spare.pid and origin == "spare" and not judge.SPARE
    payload = {"problem": {"text": PROBLEM.read_text(), "path": str(PROBLEM)},
               "candidate": {"text": PRINTING, "path": "candidate.py"}, "timing": False}
    log = tmp_path / "task.log"
    with log.open("w") as task_log:
        reply = candidate_link.ask(child.link, {"op": "verify", "payload": payload}, 1 << 24,
                                   fds=[task_log.fileno()])
    judge.ZYGOTE.end(child)
    assert reply["claim"]["status"] in {"pass", "fail"}, reply
    assert log.read_text().splitlines() == ["printed by the candidate", "and on its stderr"]


def test_a_spare_that_ended_is_not_used(zygote) -> None:
    assert judge.settle() == ""
    dead = judge.SPARE[0]
    os.kill(dead.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while not select.select([dead.link], [], [], 0.1)[0] and time.monotonic() < deadline:
        pass
    child, origin = judge.candidate_process()
    assert child.pid != dead.pid and origin == "forked" and not judge.SPARE
    assert judge.waiting(child)
    judge.ZYGOTE.end(child)
