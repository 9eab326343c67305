"""The race: a candidate's claimed time, checked from outside the process that claims it.

A candidate's process measures its own time with CUDA events; the candidate's code runs there and
may rewrite the measurement. So the judge (tools/judge.py) and the re-timing (tools/retime.py),
which never run candidate code, race it: fresh seeds are sent only now, the candidate's process
makes those inputs and calls the candidate once on each, sending back projections of the outputs
(dot products with random vectors from a seed also sent only now; tools/projection.py), which
are checked against the reference's. Right outputs on inputs it never saw before are proof of
the work, and the wall clock over those calls, less what making the inputs and projecting cost
the racing process itself, may not exceed RACE_FACTOR times the claimed time plus the slacks.
That bounds kernels well above a launch's cost: below it, a claimed time stays the claim.

One untimed set goes first, on a seed of its own: the racing process's first set pays costs that
are not its kernel's (its caching allocator growing again after the process emptied it for the
judge, the projection's kernels loaded on their first use), while the judge's own cost, which is
subtracted, is measured warm. Its answer only has to come; nothing the candidate learns from it
helps with the timed sets, whose seeds come later.
"""

from __future__ import annotations

import math
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import torch

from kernel_agent.tools import candidate_link, integrity, projection
from kernel_agent.tools.tolerance import Atol
from kernel_agent.tools.verify import Verification, changed_since

FLAG = "timing_disputed"
# About this many milliseconds of claimed work, in at least 3 and at most 50 calls.
TARGET_MS = 20.0
SETS = (3, 50)
# What an honest call may take beyond its claimed time, which is device time measured behind an
# L2 flush: FACTOR times it, plus the launch, synchronisation and Python around every call
# (CALL_SLACK_MS), plus the hand-over once (SLACK_MS).
FACTOR = 3.0
CALL_SLACK_MS = 1.5
SLACK_MS = 10.0
# ... and fewer calls where preparing them (the reference's runs) takes longer than this.
PREPARE_S = 0.3
NOT_SEEDED = ("the problem's get_inputs() does not give the same inputs for the same seed, or its "
              "reference's outputs are not all finite: the candidate could not be timed from "
              "outside its process")


@dataclass
class Race:
    """How a race ended: `wrong` (the outputs or the answer are not accepted), `disputed` (right
    outputs, but slower than claimed beyond the bound), `not_measured` (the problem does not
    allow a race), or none of them; with the calls made and the time per call."""

    calls: int = 0
    ms_per_call: float | None = None
    wrong: str | None = None
    disputed: str | None = None
    not_measured: str | None = None


def race(link: socket.socket, referee: Verification, claimed_ms: float, atol: Atol,
         rtol: float) -> Race:
    """Race the candidate behind `link` (a process serving "race", tools/candidate_process.py)
    against its claimed time per call; `referee` holds the problem and its built reference."""
    warm_up = sets_answered(link, [secrets.randbelow(2**31)], secrets.randbelow(2**31),
                            candidate_link.REPLY_BYTES)
    if isinstance(warm_up, str):
        return Race(wrong=warm_up)
    wanted = min(max(math.ceil(TARGET_MS / claimed_ms), SETS[0]), SETS[1])
    seeds: list[int] = []
    projection_seed = secrets.randbelow(2**31)
    expected, own_s = [], 0.0
    preparing = perf_counter()
    while len(seeds) < wanted and (len(seeds) < SETS[0] or perf_counter() - preparing < PREPARE_S):
        seeds.append(secrets.randbelow(2**31))
        made = race_set(referee, seeds[-1], projection_seed, atol, rtol, first=len(seeds) == 1)
        if made is None:
            return Race(not_measured=NOT_SEEDED)
        expected.append(made[0])
        own_s += made[1]
    count = len(seeds)
    started = perf_counter()
    message = sets_answered(link, seeds, projection_seed,  # one projection per set and output
                            candidate_link.outputs_reply_limit(count * len(expected[0])))
    wall_ms = (perf_counter() - started) * 1000
    if isinstance(message, str):
        return Race(wrong=message)
    found = message.get("projections")
    if not (isinstance(found, list) and len(found) == count and all(
            isinstance(p, list) and projection.within(p, e)
            for p, e in zip(found, expected, strict=True))):
        return Race(wrong="wrong outputs on fresh inputs (their projections differ from the "
                          "reference's)")
    spent_ms = max(0.0, wall_ms - own_s * 1000)
    result = Race(calls=count, ms_per_call=round(spent_ms / count, 4))
    if spent_ms > count * (FACTOR * claimed_ms + CALL_SLACK_MS) + SLACK_MS:
        result.disputed = (f"its process measured {claimed_ms:.4g} ms per call, but {count} calls "
                           f"on fresh inputs took {spent_ms / count:.4g} ms each, timed from "
                           "outside that process")
    return result


def sets_answered(link: socket.socket, seeds: list[int], projection_seed: int,
                  limit: int) -> dict[str, Any] | str:
    """The candidate's process's answer to one race request (at most `limit` bytes), or why
    there is none."""
    request = {"op": "race", "seeds": seeds, "projection_seed": projection_seed}
    try:
        message = candidate_link.ask(link, request, limit)
    except candidate_link.NoReply as exc:
        return str(exc)
    if error := candidate_link.error_in(message):
        return f"the candidate failed: {error[1][-500:]}"
    return message


def race_set(referee: Verification, seed: int, projection_seed: int, atol: Atol, rtol: float,
             first: bool = False) -> tuple[list[tuple[float, float]], float] | None:
    """The bands a right output's projections fall in for `seed`'s inputs, and the seconds the
    candidate's process spends on its own side of the same work (making the inputs, projecting
    the outputs); None if the inputs or the reference cannot be relied on. The `first` set's
    inputs are made twice, to check that the seed gives the same inputs (a property of the
    problem's get_inputs, which the candidate's process relies on to make the same ones)."""
    inputs, made_s = timed(lambda: referee.make_inputs(seed), referee.device)
    if first and changed_since(referee.make_inputs(seed), integrity.Fingerprint.of(
            integrity.tensors(inputs))):
        return None
    reference = referee.call_reference(inputs)
    if not all(bool(t.isfinite().all()) for t in reference if t.is_floating_point()):
        return None
    _, projected_s = timed(lambda: projection.project(reference, projection_seed), referee.device)
    return projection.bands(reference, projection_seed, atol, rtol), made_s + projected_s


def timed(fn: Callable[[], Any], device: torch.device) -> tuple[Any, float]:
    """fn()'s value and the seconds it took, its device work included."""
    started = perf_counter()
    value = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return value, perf_counter() - started
