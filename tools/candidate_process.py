"""The candidate's process: verifies the candidate as asked, then answers the judge's audit; or
builds a finalist for the re-timing and answers its rounds.

Forked fresh for every candidate by the judge's zygote (sandbox/zygote.py) and run with one
socket to the judge and nothing else of it. Everything sent from here is the candidate's claim:
the candidate's code runs in this process and may rewrite any of it.

Messages (sandbox/channel.py frames):
  judge -> {"op": "verify", "payload": ...}       here -> {"claim": verdict dict}
  judge -> {"op": "audit", "inputs": [...], "bytes": n} + n bytes   here -> {"outputs": [...],
           "bytes": m} + m bytes (tools/tensor_transfer.py),
           or {"op": "audit", "seed": n}: the inputs made here from the problem and that seed
           (for inputs that cannot be sent), or {"error": {...}} if the candidate failed;
           with "share": true, device outputs are handed over in place (tools/device_share.py):
           here -> {"shared": [...]}, kept until judge -> {"op": "audit_done"} (here ->
           {"released": true}) or {"op": "audit_bytes"} (here -> the outputs as bytes, above);
  judge -> {"op": "race", "seeds": [...], "projection_seed": n}   here -> {"projections":
           [[one number per output] per seed]}: the inputs made here from each seed, one call
           each, timed by the judge from outside (tools/projection.py);
  re-timing -> {"op": "contend", "payload": ...}   here -> {"ready": true} (tools/contender.py)
  re-timing -> {"op": "time", "runs": n, "time_box_s": s}   here -> {"median_ms": ms}
  re-timing -> {"op": "check", "atol": a, "rtol": r} (and "atol_by_output", tools/tolerance.py)
              here -> {"flag": {"name", "reason"} | null}
  re-timing -> {"op": "race", ...} as the judge's;
  either -> {"op": "exit"} or the end of the socket.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from kernel_agent.sandbox import channel
from kernel_agent.sandbox.resident import MARK as RESIDENT_MARK
from kernel_agent.sandbox.worker import failure_kind
from kernel_agent.tools import device_share, projection, tensor_transfer, tolerance, verify
from kernel_agent.tools.contender import Contender

MESSAGE_CHARS = 4000
INPUTS_LIMIT = 1 << 40  # the judge's inputs: as large as the problem makes them


def serve(link_fd: int) -> None:
    os.environ.pop(RESIDENT_MARK, None)  # this process serves one candidate and ends
    link = socket.socket(fileno=link_fd)
    warm_up()
    got = channel.receive(link)
    if got is None or got[0].get("op") not in STARTS:
        return
    for fd in got[1][:1]:  # the task's log, where a process forked ahead of its task must write
        os.dup2(fd, 1)
        os.dup2(fd, 2)
    channel.close_all(got[1])
    with tempfile.TemporaryDirectory(prefix="candidate-") as workdir:
        try:
            reply, subject, ops = STARTS[got[0]["op"]](got[0]["payload"], Path(workdir))
        except Exception as exc:  # the verifier's own failure still reaches the judge
            channel.send(link, failure_reply(exc, "sandbox_error", traceback.format_exception))
            return
        channel.send(link, reply)
        with contextlib.suppress(RuntimeError):  # a sticky CUDA error: the reply says so already
            if torch.cuda.is_initialized():
                torch.cuda.empty_cache()  # for the judge, which works meanwhile
        while (got := channel.receive(link)) is not None and got[0].get("op") in ops:
            message, fds = got
            channel.close_all(fds)
            reply, values = answer(subject, ops[message["op"]], message, link)
            channel.send(link, reply)
            if values is not None:
                tensor_transfer.send(link, values)


def warm_up() -> None:
    """This process's CUDA context and Triton's driver for it, made while the judge prepares its
    side of the verdict (it forks this process first): a fresh process's first use of the GPU
    takes about 0.15 s, and its first Triton launch loads the driver's utilities, asks for
    the device's target and hashes Triton's installation (unless a preload did it before the
    fork), all of which would otherwise fall in the verdict's own time."""
    with contextlib.suppress(Exception):  # a GPU that fails here fails the verification
        if torch.cuda.is_available():
            torch.zeros(1, device="cuda")
            torch.cuda.synchronize()
            import triton

            triton.runtime.driver.active.get_current_target()  # loads the driver's C module
            import kernel_agent.tools.triton_settled  # noqa: F401  (the key, unless inherited)


def verified(payload: dict[str, Any], workdir: Path) -> tuple[dict[str, Any], Any, Ops]:
    """The whole verification, its claim, and the audit's and race's requests to answer."""
    claim, verification = verify.run(payload, workdir)
    return {"claim": claim}, verification, {"audit": audit, "race": race}


def contending(payload: dict[str, Any], workdir: Path) -> tuple[dict[str, Any], Any, Ops]:
    """A finalist of the re-timing, built, and the re-timing's requests to answer."""
    return {"ready": True}, Contender(payload, workdir), {
        "time": time_round, "check": check, "race": contender_race}


def answer(subject: Any, op: Op, message: dict[str, Any],
           link: socket.socket) -> tuple[dict[str, Any], list[Any] | None]:
    """The reply to one of the judge's requests (and the values whose bytes follow it, if any,
    described in the reply); the candidate's failure on the way is the reply too. The op reads
    from `link` whatever followed the request."""
    if subject is None:
        return {"error": {"kind": "no_model", "message": "the candidate was never built"}}, None
    try:
        reply, values = op(subject, message, link)
        if values is not None:
            reply["outputs"], reply["bytes"] = tensor_transfer.describe(values)
        return reply, values
    except Exception as exc:  # the candidate's failure, inside the verifier's guards or not
        return failure_reply(exc, "run_error", traceback.format_exception_only), None


def failure_reply(exc: Exception, default_kind: str,
                  describe: Callable[[BaseException], list[str]]) -> dict[str, Any]:
    """The error reply for `exc`: a candidate's failure as the verifier names it, anything else
    by its failure kind (else `default_kind`) and `describe`'s text of it, both cut to
    MESSAGE_CHARS from the end."""
    if isinstance(exc, verify.CandidateError):
        kind, text = exc.kind, exc.message_text()
    else:
        kind, text = failure_kind(exc) or default_kind, "".join(describe(exc)).strip()
    return {"error": {"kind": kind, "message": text[-MESSAGE_CHARS:]}}


def race(verification: verify.Verification, message: dict[str, Any],
         link: socket.socket) -> tuple[dict[str, Any], None]:
    """The judge's timed calls: for each seed, the inputs made here, the candidate called on
    them and its outputs projected (tools/projection.py); one after another, each finished."""
    found = []
    for seed in message["seeds"]:
        outputs = verification.call_candidate(verification.make_inputs(int(seed)))
        found.append(projection.project(outputs, int(message["projection_seed"])))
    return {"projections": found}, None


def audit(verification: verify.Verification, message: dict[str, Any],
          link: socket.socket) -> tuple[dict[str, Any], list[Any]]:
    """The candidate's outputs for the audit's inputs: those the judge sent after its request,
    or those made here from the seed it sent."""
    if "bytes" in message:
        inputs = tensor_transfer.receive(link, message.get("inputs"), message["bytes"],
                                         INPUTS_LIMIT, verification.device)
    else:
        inputs = verification.make_inputs(int(message["seed"]))
    outputs = verification.call_candidate(inputs)
    if not message.get("share"):
        return {}, outputs
    try:
        torch.cuda.synchronize()
        shared = device_share.export(outputs)
    except (device_share.ShareError, tensor_transfer.TransferError, RuntimeError):
        return {}, outputs  # as bytes
    channel.send(link, {"shared": shared})
    got = channel.receive(link)  # kept until the judge is done with them, or asks for bytes
    if got is None:
        return {"released": True}, None
    channel.close_all(got[1])
    return ({}, outputs) if got[0].get("op") == "audit_bytes" else ({"released": True}, None)


def time_round(contender: Contender, message: dict[str, Any],
               link: socket.socket) -> tuple[dict[str, Any], None]:
    """One round of the re-timing: the candidate's median over flushed, timed calls."""
    return {"median_ms": contender.time(int(message["runs"]), float(message["time_box_s"]))}, None


def check(contender: Contender, message: dict[str, Any],
          link: socket.socket) -> tuple[dict[str, Any], None]:
    """The re-timed calls' outputs, judged within the tolerance the re-timing sends."""
    flag = contender.check(tolerance.from_json(message), float(message["rtol"]))
    return {"flag": None if flag is None else {"name": flag.name, "reason": flag.reason}}, None


def contender_race(contender: Contender, message: dict[str, Any],
                   link: socket.socket) -> tuple[dict[str, Any], None]:
    return race(contender.verification, message, link)


Op = Callable[[Any, dict[str, Any], socket.socket], tuple[dict[str, Any], list[Any] | None]]
Ops = dict[str, Op]
STARTS = {"verify": verified, "contend": contending}
