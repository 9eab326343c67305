"""What the judge makes of what a candidate's process sends: a verdict only where it is one, a
failure it names itself otherwise, never a pass it has not checked."""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest

from kernel_agent.sandbox import channel
from kernel_agent.sandbox.zygote import Child
from kernel_agent.tools.judge import Judgement, read_claim
from kernel_agent.tools.phases import PhaseClock
from kernel_agent.tools.verify import PAYLOAD_DEFAULTS

from ..conftest import DATA


def claim_of(reply: bytes | dict[str, Any], tmp_path) -> Any:
    """The judge's reading of `reply`, sent by a process standing in for a candidate's."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)

    def candidate() -> None:
        channel.receive(theirs)  # the verify request
        if isinstance(reply, bytes):
            theirs.sendall(reply)
        else:
            channel.send(theirs, reply)
        theirs.close()

    options = {**PAYLOAD_DEFAULTS, "problem": {"text": (DATA / "scale_add_problem.py").read_text(),
                                               "path": "p.py"},
               "candidate": {"text": "", "path": "c.py"}}
    thread = threading.Thread(target=candidate)
    thread.start()
    try:
        return Judgement(options, tmp_path, PhaseClock()).claim(Child(0, ours))
    finally:
        thread.join()
        ours.close()


@pytest.mark.parametrize(("kind", "reported"), [("cuda_error", "cuda_error"),
                                                ("out_of_memory", "out_of_memory"),
                                                ("pass", "sandbox_error")])
def test_an_error_instead_of_a_verdict_keeps_only_a_known_kind(tmp_path, kind, reported):
    verdict, _ = claim_of({"error": {"kind": kind, "message": "CUDA error: an illegal memory "
                                                              "access was encountered"}}, tmp_path)
    assert verdict.status == "fail" and verdict.error.kind == reported
    assert "illegal memory access" in verdict.error.message


@pytest.mark.parametrize("reply", [
    b'{"value": {"status": "pass"}}',  # an answer without a frame
    {"claim": {"status": "passed", "stage": "done"}},
    {"claim": {"status": "pass", "stage": "done", "flags": "none"}},
    {"claim": {"status": "pass", "stage": "done", "surprise": 1}},
    {"claim": {"status": "pass", "stage": "done", "timing": {"candidate": {
        "median_ms": -1.0, "iqr_ms": 0, "n": 1, "min_ms": 0}}}},
    {"claim": "pass"},
])
def test_what_is_not_a_verdict_fails(tmp_path, reply):
    verdict, _ = claim_of(reply, tmp_path)
    assert verdict.status == "fail" and verdict.error.kind == "sandbox_error", verdict


def test_a_claimed_bad_problem_is_the_candidates_failure():
    verdict, _ = read_claim({"status": "bad_input", "stage": "load_problem",
                             "error": {"kind": "bad_problem", "message": "get_inputs raised"}})
    assert verdict.status == "fail" and verdict.correct is False


def test_compiled_files_travel_beside_the_verdict():
    verdict, extra = read_claim({"status": "fail", "stage": "done", "compiled_files": {"a": 1}})
    assert verdict.status == "fail" and extra == {"compiled_files": {"a": 1}}
