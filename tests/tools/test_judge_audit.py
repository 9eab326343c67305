"""The judge's audit of a claimed pass: the candidate's outputs for inputs its process never saw,
compared with the reference's, whether the judge kept the reference's outputs or makes them
again once the candidate has answered (outputs too large to keep beside the candidate's
process). Run in this process against a thread that speaks for a candidate's process."""

from __future__ import annotations

import socket
import threading

import pytest
import torch

from kernel_agent.sandbox import channel
from kernel_agent.sandbox.zygote import Child
from kernel_agent.tools import judge, tensor_transfer
from kernel_agent.tools.judge import AUDIT_FLAG, Judgement
from kernel_agent.tools.phases import PhaseClock
from kernel_agent.tools.verdict import Verdict
from kernel_agent.tools.verify import PAYLOAD_DEFAULTS

from ..conftest import DATA


def a_judgement(tmp_path) -> Judgement:
    options = {**PAYLOAD_DEFAULTS, "problem": {"text": (DATA / "scale_add_problem.py").read_text(),
                                               "path": "p.py"},
               "candidate": {"text": "", "path": "c.py"}}
    judgement = Judgement(options, tmp_path, PhaseClock())
    judgement.referee.load_problem()
    return judgement


def answer_audits(link: socket.socket, judgement: Judgement, error: float,
                  shared: object = None) -> None:
    """A candidate's process computing 2x + b (+ error) on the audit's inputs, made from the
    seed or received, as tools/candidate_process.py answers; with `shared`, it first offers
    that as outputs handed over in place, and sends bytes only when the judge asks for them."""
    while (got := channel.receive(link)) is not None:
        request = got[0]
        if request.get("op") == "audit_bytes":
            request = {}
        elif "bytes" in request:
            inputs = tensor_transfer.receive(link, request["inputs"], request["bytes"], 1 << 20,
                                             "cpu")
        else:
            inputs = judgement.referee.make_inputs(request["seed"])
        if shared is not None and request:
            channel.send(link, {"shared": shared})
            continue
        outputs = [2 * inputs[0] + inputs[1] + error]
        described, size = tensor_transfer.describe(outputs)
        channel.send(link, {"outputs": described, "bytes": size})
        tensor_transfer.send(link, outputs)


def audited(judgement: Judgement, audit_set: judge.AuditSet, error: float,
            shared: object = None) -> Verdict:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    thread = threading.Thread(target=answer_audits, args=(theirs, judgement, error, shared))
    thread.start()
    verdict = Verdict(status="pass", stage="done", correct=True)
    try:
        judgement.audit(Child(0, ours), verdict, audit_set)
    finally:
        ours.close()
        thread.join()
        theirs.close()
    return verdict


def without_reference(audit_set: judge.AuditSet) -> judge.AuditSet:
    """The set as the judge keeps it when the reference's outputs are too large to hold."""
    audit_set.reference = None
    return audit_set


@pytest.mark.parametrize("keep", [True, False], ids=["kept", "made-again"])
@pytest.mark.parametrize(("error", "passes"), [(0.0, True), (0.5, False)])
def test_the_audit_judges_the_outputs_on_the_reference_kept_or_made_again(tmp_path, keep, error,
                                                                          passes):
    judgement = a_judgement(tmp_path)
    audit_set = judgement.audit_set()
    assert audit_set.expected_bytes == tensor_transfer.aligned(1000 * 4)
    verdict = audited(judgement, audit_set if keep else without_reference(audit_set), error)
    assert verdict.passed is passes and verdict.audit["passed"] is passes
    if passes:
        assert verdict.audit["elements"] == 1000 and verdict.audit["mismatched"] == 0
    else:
        flag = next(f for f in verdict.flags if f.name == AUDIT_FLAG)
        assert "1000 of 1000 output elements wrong" in flag.reason


def test_inputs_that_were_sent_make_the_reference_again(tmp_path):
    """A problem whose inputs do not follow from a seed: the judge sends them, and makes the
    reference again from its own host copy of what it sent, not from a seed."""
    judgement = a_judgement(tmp_path)
    audit_set = judgement.audit_set()
    made = judgement.referee.make_inputs(audit_set.seed)
    audit_set.inputs = [torch.full_like(made[0], 3.0), torch.ones_like(made[1])]
    verdict = audited(judgement, without_reference(audit_set), 0.0)
    assert verdict.passed and verdict.audit["max_abs_error"] == 0.0
    wrong = audited(judgement, audit_set, 1.0)
    assert not wrong.passed


def test_no_room_for_the_reference_ends_the_candidates_process_and_skips_only_the_race(
        tmp_path, monkeypatch):
    """Out of memory making the reference again beside the candidate's process: the process is
    ended to free its memory, the audit still judges the outputs, and the judge's own timed
    calls are reported as not measured."""
    judgement = a_judgement(tmp_path)
    audit_set = without_reference(judgement.audit_set())
    made_again = judgement.audit_reference
    attempts: list[int] = []

    def short_of_memory_once(audit_set: judge.AuditSet) -> list[torch.Tensor]:
        attempts.append(1)
        if len(attempts) == 1:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return made_again(audit_set)

    ended: list[Child] = []

    class Zygote:
        def end(self, child: Child, grace_s: float = 0.0) -> dict:
            ended.append(child)
            child.link.close()
            return {"exit": 0}

    monkeypatch.setattr(judgement, "audit_reference", short_of_memory_once)
    monkeypatch.setattr(judge, "ZYGOTE", Zygote())
    verdict = audited(judgement, audit_set, 0.0)
    assert len(attempts) == 2 and len(ended) == 1
    assert verdict.passed and verdict.audit["passed"]
    assert "ended before the judge's timed calls" in verdict.not_measured["judge_timing"]


@pytest.mark.parametrize("shared", [
    [{"tensor": {"dtype": "float32", "shape": [1000], "stride": [1], "offset": 0,
                 "nbytes": 4000, "handle": "00" * 64, "at": 0}}],
    [{"tensor": {"dtype": "float32", "shape": [1000], "stride": [1], "offset": 0,
                 "nbytes": 4000, "handle": "zz", "at": -5}}],
    "not a description",
], ids=["not-openable-here", "malformed", "not-a-list"])
@pytest.mark.parametrize(("error", "passes"), [(0.0, True), (0.5, False)])
def test_outputs_that_cannot_be_read_in_place_are_asked_for_as_bytes(tmp_path, shared, error,
                                                                     passes):
    """A hand-over in place the judge cannot open (a CPU here; a forged or malformed one
    anywhere) is never read: the judge asks for the bytes, and judges those."""
    judgement = a_judgement(tmp_path)
    verdict = audited(judgement, judgement.audit_set(), error, shared=shared)
    assert verdict.passed is passes and verdict.audit["passed"] is passes
    assert verdict.audit["in_place"] is False
