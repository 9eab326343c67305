"""The re-timing task: the finalists timed against each other, interleaved, on one GPU.

Run by name (`kernel_agent.tools.retime:run`) inside the sandbox. Each finalist was timed alone
when verified, minutes apart and possibly on a GPU busy with other branches; here the finalists
and the eager reference take turns, round by round with the order rotated, so drift in clocks and
temperature hits them all alike. The result per candidate is the median of its per-round
medians. `"reference": false` leaves the eager reference out of the rounds (a comparison of two
kernels need not wait for it). Without a GPU nothing can be timed and the task says so.

This process is a judge (tools/judge.py): it never runs a finalist's code. Each finalist runs in
a candidate process of its own (tools/contender.py), forked by the judge's zygote, so no finalist
can reach another's process, the eager reference (timed here) or this process's clock and
answer: a candidate that rewrote the timing only when it found itself among rivals would rewrite
its own process's and nothing else. All of them are built on the same TIMED_SETS fresh input
sets, made like the correctness inputs from seeds drawn here, with the reference's weights.

What a finalist's process reports is its word, so the result is checked before it counts:
- the outputs of its re-timed calls are recorded and judged there, as the verifier judges timed
  calls (tools/timed_check.py): a candidate whose output depends on how often or when it is
  called is caught, unless it also rewrites that check;
- its median is raced from here (tools/race.py): fresh inputs, right outputs, and a wall time
  within the race's bound of the claimed time, or it is `timing_disputed`;
both within the tolerance the finalist was verified with (its "tolerance", else the problem's as
the verifier derives it). A finalist that fails either is reported under "failed" with the flag's
name and reason and has no result, so it cannot win; one that cannot be built or whose process
dies is under "errors".
"""

from __future__ import annotations

import contextlib
import math
import secrets
import statistics
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from kernel_agent.sandbox import channel
from kernel_agent.sandbox.zygote import Child, ZygoteLost
from kernel_agent.tools import candidate_link, race, trivial
from kernel_agent.tools import tolerance as tolerance_json
from kernel_agent.tools.judge import (
    CANDIDATE_PROCESS,
    ZYGOTE,
    forking_candidates,
    kept_children,
    settle,
)
from kernel_agent.tools.problem import Problem
from kernel_agent.tools.timed_check import FLAG as WRONG_FLAG
from kernel_agent.tools.timed_check import TIMED_SETS, InputSet
from kernel_agent.tools.timing import L2Flusher, time_gpu
from kernel_agent.tools.tolerance import Atol
from kernel_agent.tools.verify import PAYLOAD_DEFAULTS, Verification, rotating

__all__ = ["kept_children", "run", "settle"]  # a resident judge process may take this task too

DEFAULTS: dict[str, Any] = {"rounds": 5, "runs": 30, "time_box_s": 0.5, "seed": 1234,
                            "reference": True}
REFERENCE = "eager"
REPLY_LIMIT = 64 << 10
ERROR_CHARS = 500


def run(payload: dict[str, Any]) -> dict[str, Any]:
    """Sandbox task entry point: {"problem", "candidates": [{"id", "text", "path",
    "tolerance"?}]} in."""
    with forking_candidates():
        if not torch.cuda.is_available():
            return {"measured": False, "reason": "not measured: no GPU"}
        with tempfile.TemporaryDirectory(prefix="retime-") as tmp:
            return Retiming({**DEFAULTS, **payload}, Path(tmp)).result()


class Dropped(Exception):
    """A finalist's process that did not answer as asked: why."""


class Retiming:
    """One re-timing: the eager reference here, each finalist in its own process."""

    def __init__(self, options: dict[str, Any], workdir: Path) -> None:
        self.options = options
        self.referee = Verification({**PAYLOAD_DEFAULTS, "problem": options["problem"],
                                     "candidate": {"text": "", "path": "none"},
                                     "seed": options["seed"]}, workdir)
        self.errors: dict[str, str] = {}
        self.failed: dict[str, dict[str, str]] = {}
        self.raced: dict[str, dict[str, Any]] = {}  # each finalist's race, as timed here

    def result(self) -> dict[str, Any]:
        referee, options = self.referee, self.options
        referee.load_problem()
        referee.build_reference()
        seeds = [secrets.randbelow(2**31) for _ in range(TIMED_SETS)]
        sets = [InputSet(referee.make_inputs(seed)) for seed in seeds]
        rounders: dict[str, Callable[[], float]] = {}
        if options["reference"]:
            eager, flush = rotating(referee.model, sets), L2Flusher(referee.device)
            rounders[REFERENCE] = lambda: time_gpu(
                eager, flush, runs=options["runs"], time_box_s=options["time_box_s"]).median_ms
        with self.finalists(seeds) as children:
            rounders.update({key: self.remote_round(child) for key, child in children.items()})
            medians = self.rounds(rounders)
            reference = referee.reference_after(sets[0].inputs)
            tolerances = {c["id"]: tolerance(c.get("tolerance"), referee.problem, reference)
                          for c in options["candidates"]}
            for key, child in children.items():
                if key in medians and key not in self.errors:
                    self.judge(key, child, statistics.median(medians[key]), *tolerances[key])
        eager_ms = statistics.median(medians[REFERENCE]) if REFERENCE in medians else None
        results = {}
        for key, samples in medians.items():
            if key == REFERENCE or key in self.failed or key in self.errors:
                continue
            median = statistics.median(samples)
            results[key] = {"median_ms": median, "round_medians_ms": samples,
                            "speedup_eager": eager_ms / median if eager_ms else None,
                            **self.raced.get(key, {})}
        return {"measured": True, "device": referee.device_info()["name"], "eager_ms": eager_ms,
                "rounds": options["rounds"], "results": results, "errors": self.errors,
                "failed": self.failed}

    @contextlib.contextmanager
    def finalists(self, seeds: list[int]) -> Iterator[dict[str, Child]]:
        """A built finalist's process per candidate (built side by side); each ended on exit."""
        children: dict[str, Child] = {}
        try:
            for candidate in self.options["candidates"]:
                children[candidate["id"]] = ZYGOTE.spawn(CANDIDATE_PROCESS)
                channel.send(children[candidate["id"]].link, {"op": "contend", "payload": {
                    "problem": self.options["problem"], "seed": self.options["seed"],
                    "candidate": {"text": candidate["text"], "path": candidate["path"]},
                    "set_seeds": seeds}})
            for key, child in children.items():
                try:
                    ask(child, None)
                except Dropped as exc:
                    self.errors[key] = str(exc)
            yield {key: child for key, child in children.items() if key not in self.errors}
        except ZygoteLost as exc:
            raise RuntimeError(f"no finalist's process could be started: {exc}") from None
        finally:
            for child in children.values():
                with contextlib.suppress(ZygoteLost, OSError):
                    ZYGOTE.end(child)

    def remote_round(self, child: Child) -> Callable[[], float]:
        request = {"op": "time", "runs": self.options["runs"],
                   "time_box_s": self.options["time_box_s"]}

        def one_round() -> float:
            median = ask(child, request).get("median_ms")
            if not isinstance(median, int | float) or not 0 < median < math.inf:
                raise Dropped(f"its process sent {median!r} as its time")
            return float(median)
        return one_round

    def rounds(self, rounders: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
        """Per-round medians (ms) of each contender, the order rotated every round; a finalist
        that drops out is under `errors` with why, and out of the rounds."""
        medians: dict[str, list[float]] = {name: [] for name in rounders}
        for order in rotations(list(rounders), self.options["rounds"]):
            for name in order:
                if name in self.errors:
                    continue
                try:
                    medians[name].append(rounders[name]())
                except Dropped as exc:
                    self.errors[name] = f"while re-timed: {exc}"
        return {name: samples for name, samples in medians.items() if samples}

    def judge(self, key: str, child: Child, median_ms: float, atol: Atol, rtol: float) -> None:
        """The finalist's own check of its re-timed outputs, then the race of its median."""
        try:
            flag = ask(child, {"op": "check", **tolerance_json.to_json(atol),
                               "rtol": rtol}).get("flag")
        except Dropped as exc:
            self.errors[key] = f"while its outputs were checked: {exc}"
            return
        if isinstance(flag, dict):
            self.failed[key] = {"flag": str(flag.get("name") or WRONG_FLAG)[:100],
                                "reason": str(flag.get("reason"))[:ERROR_CHARS]}
            return
        result = race.race(child.link, self.referee, median_ms, atol, rtol)
        if result.wrong:
            self.failed[key] = {"flag": WRONG_FLAG,
                                "reason": f"in the re-timing's own timed calls: {result.wrong}"}
        elif result.disputed:
            self.failed[key] = {"flag": race.FLAG, "reason": f"the finalist's {result.disputed}"}
        else:
            self.raced[key] = ({"race_not_measured": result.not_measured} if result.not_measured
                               else {"race_calls": result.calls,
                                     "race_ms_per_call": result.ms_per_call})


def ask(child: Child, request: dict[str, Any] | None) -> dict[str, Any]:
    """The finalist process's reply to `request` (None: to the request already sent)."""
    try:
        message = candidate_link.ask(child.link, request, REPLY_LIMIT)
    except candidate_link.NoReply as exc:
        raise Dropped(str(exc)) from None
    if error := candidate_link.error_in(message):
        raise Dropped(f"{error[0]}: {error[1][-ERROR_CHARS:]}")
    return message


def rotations(names: list[str], rounds: int) -> Iterator[list[str]]:
    """The order of each round: the names rotated by one more place every round."""
    for number in range(rounds):
        shift = number % max(1, len(names))
        yield names[shift:] + names[:shift]


def tolerance(given: Mapping[str, Any] | None, problem: Problem,
              reference: list[torch.Tensor]) -> tuple[Atol, float]:
    """(atol, rtol): the tolerance the candidate was verified with, else the problem's, as the
    verifier derives it without options."""
    if given and given.get("atol") is not None and given.get("rtol") is not None:
        return tolerance_json.from_json(given), float(given["rtol"])
    meta = problem.metadata
    atol, rtol, _ = trivial.judged_tolerance(
        reference, getattr(torch, meta.dtype) if meta.dtype else None, meta.atol, meta.rtol)
    return atol, rtol


def interleaved(contenders: dict[str, Callable[[], Any]], *, rounds: int = DEFAULTS["rounds"],
                runs: int = DEFAULTS["runs"], time_box_s: float = DEFAULTS["time_box_s"],
                after: Mapping[str, Callable[[Any], None]] | None = None
                ) -> dict[str, list[float]]:
    """For kernels timed in one process (a benchmark's own): per-round median times (ms) of each
    no-argument call, in rotated order, the L2 flushed before every run of any of them;
    `after[name]`, if given, gets each of that contender's results once its end event is
    recorded (time_gpu's `after`)."""
    flush = L2Flusher(torch.device("cuda"))
    hooks = after or {}
    medians: dict[str, list[float]] = {name: [] for name in contenders}
    for order in rotations(list(contenders), rounds):
        for name in order:
            stats = time_gpu(contenders[name], flush, runs=runs, time_box_s=time_box_s,
                             after=hooks.get(name))
            medians[name].append(stats.median_ms)
    return medians
