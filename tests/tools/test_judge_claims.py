"""What the judge makes of what a candidate's process sends: a verdict only where it is one, a
failure it names itself otherwise, never a pass it has not checked."""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest

from kernel_agent.sandbox import channel
from kernel_agent.sandbox.zygote import Child
from kernel_agent.tools.judge import Judgement, read_claim, review_claim
from kernel_agent.tools.phases import PhaseClock
from kernel_agent.tools.verdict import Flag, Verdict
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


THREADED = """import threading
import torch
import triton
from torch import nn

from kernels import scale_add


class ModelNew(nn.Module):
    def forward(self, x, b):
        threading.Thread(target=lambda: None).start()
        return scale_add(x, b)
"""
STREAMED = """import torch
from torch import nn


class ModelNew(nn.Module):
    def forward(self, x, b):
        with torch.cuda.stream(torch.cuda.Stream()):
            return 2 * x + b
"""


def claimed_pass(*flags: Flag) -> Verdict:
    return Verdict(status="pass", stage="done", correct=True, flags=list(flags))


def test_the_judge_reviews_the_source_itself_whatever_the_claim_left_out():
    verdict = claimed_pass()  # a claim without the findings its source gives
    review_claim(verdict, THREADED)
    assert [f.name for f in verdict.flags] == ["static_threads"]
    assert verdict.flags[0].severity == "review" and verdict.status == "pass"


def test_static_findings_in_a_claim_are_replaced_by_the_judges_own():
    verdict = claimed_pass(Flag("static_threads", "made up", "review"))
    review_claim(verdict, (DATA / "scale_add_correct.py").read_text())
    assert verdict.flags == [] and verdict.status == "pass"


def test_a_finding_confirmed_by_a_claimed_run_time_flag_fails_a_claimed_pass():
    verdict = claimed_pass(Flag("work_off_timed_stream", "as claimed", "review"))
    review_claim(verdict, STREAMED)
    stream = next(f for f in verdict.flags if f.name == "static_stream_creation")
    assert stream.severity == "reject" and "confirmed at run time" in stream.reason
    assert verdict.status == "fail" and verdict.timing is None


def test_a_claimed_pass_for_a_source_without_any_kernel_fails():
    verdict = claimed_pass()
    review_claim(verdict, "import torch\n\nclass ModelNew(torch.nn.Module):\n"
                          "    def forward(self, x):\n        return x * 2  # a kernel\n")
    assert verdict.status == "fail" and [f.name for f in verdict.flags] == ["no_custom_kernel"]


def test_a_claimed_pass_from_a_source_reaching_into_the_verifier_fails():
    verdict = claimed_pass()
    review_claim(verdict, (DATA / "scale_add_correct.py").read_text()
                 + "\nimport sys\nSEEN = sorted(sys.modules)\n")
    flag = next(f for f in verdict.flags if f.name == "static_introspection")
    assert flag.severity == "reject" and "rewrite its claim" in flag.reason
    assert verdict.status == "fail"
    honest = claimed_pass()  # the same finding on a claimed failure changes nothing
    honest.status = "fail"
    review_claim(honest, "import sys\nimport triton\nSEEN = sys.modules\n")
    assert next(f for f in honest.flags if f.name == "static_introspection").severity == "review"
