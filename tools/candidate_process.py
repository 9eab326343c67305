"""The candidate's process: verifies the candidate as asked, then answers the judge's audit.

Forked fresh for every candidate by the judge's zygote (sandbox/zygote.py) and run with one
socket to the judge and nothing else of it. Everything sent from here is the candidate's claim:
the candidate's code runs in this process and may rewrite any of it.

Messages (sandbox/channel.py frames):
  judge -> {"op": "verify", "payload": ...}       here -> {"claim": verdict dict}
  judge -> {"op": "audit", "inputs": [...]} + memfd   here -> {"outputs": [...]} + memfd,
           or {"op": "audit", "seed": n}: the inputs made here from the problem and that seed
           (for inputs that cannot be sent), or {"error": {...}} if the candidate failed;
  judge -> {"op": "race", "seeds": [...], "projection_seed": n}   here -> {"projections":
           [[one number per output] per seed]}: the inputs made here from each seed, one call
           each, timed by the judge from outside (tools/projection.py);
  judge -> {"op": "exit"} or the end of the socket.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import traceback
from pathlib import Path
from typing import Any

import torch

from kernel_agent.sandbox import channel
from kernel_agent.sandbox.resident import MARK as RESIDENT_MARK
from kernel_agent.sandbox.worker import failure_kind
from kernel_agent.tools import projection, tensor_transfer, verify

MESSAGE_CHARS = 4000


def serve(link_fd: int) -> None:
    os.environ.pop(RESIDENT_MARK, None)  # this process verifies one candidate and ends
    link = socket.socket(fileno=link_fd)
    got = channel.receive(link)
    if got is None or got[0].get("op") != "verify":
        return
    with tempfile.TemporaryDirectory(prefix="verify-") as workdir:
        try:
            claim, verification = verify.run(got[0]["payload"], Path(workdir))
        except Exception as exc:  # the verifier's own failure still reaches the judge
            text = "".join(traceback.format_exception(exc))
            channel.send(link, {"error": {"kind": failure_kind(exc) or "sandbox_error",
                                          "message": text[-MESSAGE_CHARS:]}})
            return
        channel.send(link, {"claim": claim})
        with contextlib.suppress(RuntimeError):  # a sticky CUDA error: the claim says so already
            if torch.cuda.is_initialized():
                torch.cuda.empty_cache()  # for the judge, which compares the audit meanwhile
        while (got := channel.receive(link)) is not None and got[0].get("op") in OPS:
            message, fds = got
            try:
                reply, fd = answer(verification, message, fds)
            finally:
                channel.close_all(fds)
            channel.send(link, reply, [fd] if fd is not None else None)
            if fd is not None:
                os.close(fd)


def answer(verification: verify.Verification | None, message: dict[str, Any],
           fds: list[int]) -> tuple[dict[str, Any], int | None]:
    """The reply to one of the judge's requests (and a memfd sent with it, if any); the
    candidate's failure on the way is the reply too."""
    if verification is None:
        return {"error": {"kind": "no_model", "message": "the candidate was never built"}}, None
    try:
        return OPS[message["op"]](verification, message, fds)
    except verify.CandidateError as exc:
        return {"error": {"kind": exc.kind, "message": exc.message_text()}}, None


def race(verification: verify.Verification, message: dict[str, Any],
         fds: list[int]) -> tuple[dict[str, Any], None]:
    """The judge's timed calls: for each seed, the inputs made here, the candidate called on
    them and its outputs projected (tools/projection.py); one after another, each finished."""
    found = []
    for seed in message["seeds"]:
        outputs = verification.call_candidate(verification.make_inputs(int(seed)))
        found.append(projection.project(outputs, int(message["projection_seed"])))
    return {"projections": found}, None


def audit(verification: verify.Verification, message: dict[str, Any],
          fds: list[int]) -> tuple[dict[str, Any], int | None]:
    """The candidate's outputs for the audit's inputs, packed for the judge."""
    if "seed" in message:
        inputs = verification.make_inputs(int(message["seed"]))
    else:
        inputs = tensor_transfer.unpack(message["inputs"], fds[0], verification.device)
    described, fd = tensor_transfer.pack(verification.call_candidate(inputs))
    return {"outputs": described}, fd


OPS = {"audit": audit, "race": race}
