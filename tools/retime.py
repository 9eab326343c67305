"""The re-timing task: time the finalists against each other, interleaved, on one GPU.

Run by name (`kernel_agent.tools.retime:run`) inside the sandbox; imports only the standard
library, torch, triton (through the candidates) and tools modules that do the same. Each
candidate was timed alone when verified, minutes apart and possibly on a GPU busy with other
branches; here the finalists and the eager reference take turns, round by round with the order
rotated, so drift in clocks and temperature hits them all alike. The result per candidate is the
median of its per-round medians. `"reference": false` leaves the eager reference out of the
rounds (a comparison of two kernels need not wait for it). Without a GPU nothing can be timed
and the task says so.

The re-timed calls are checked calls, as the verifier's timed calls are (tools/timed_check.py):
a candidate that computes only while it is being verified and returns fast, wrong outputs later
(counting its calls, say) would otherwise win here with an inflated speedup. All contenders run
on the same TIMED_SETS fresh input sets, made like the correctness inputs (get_inputs() on the
device, from seeds drawn for this run), rotated call by call, each contender on its own copies.
A sample of every call's output is gathered right after the call, outside the timed events, and
each set's last output is compared in full with the reference's for that set (computed only
once the timing is over, so that no answer exists in the process while candidates run), within the
tolerance the candidate was verified with (its "tolerance", else the problem's as the verifier
derives it). A candidate with a wrong output is reported under "failed" with the flag's name and
reason, and has no result, so it cannot win.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from kernel_agent.tools import trivial
from kernel_agent.tools.compare import flatten_outputs
from kernel_agent.tools.problem import Problem, Source, load_candidate, load_problem
from kernel_agent.tools.problem_state import clones
from kernel_agent.tools.timed_check import TIMED_SETS, InputSet, TimedCalls
from kernel_agent.tools.timing import L2Flusher, time_gpu
from kernel_agent.tools.verify import copy_matching_weights, rotating

DEFAULTS: dict[str, Any] = {"rounds": 5, "runs": 30, "time_box_s": 0.5, "seed": 1234,
                            "reference": True}
REFERENCE = "eager"


def run(payload: dict[str, Any]) -> dict[str, Any]:
    """Sandbox task entry point: {"problem", "candidates": [{"id", "text", "path",
    "tolerance"?}]} in."""
    if not torch.cuda.is_available():
        return {"measured": False, "reason": "not measured: no GPU"}
    options = {**DEFAULTS, **payload}
    with tempfile.TemporaryDirectory(prefix="retime-") as tmp:
        entrants = build_field(options, Path(tmp), torch.device("cuda"))
        medians = interleaved(entrants.calls, rounds=options["rounds"], runs=options["runs"],
                              time_box_s=options["time_box_s"], after=entrants.after())
        failed = entrants.failures()
    eager = statistics.median(medians[REFERENCE]) if REFERENCE in medians else None
    results = {}
    for key, samples in medians.items():
        if key == REFERENCE or key in failed:
            continue
        median = statistics.median(samples)
        results[key] = {"median_ms": median, "round_medians_ms": samples,
                        "speedup_eager": eager / median if eager and median > 0 else None}
    return {"measured": True, "device": torch.cuda.get_device_name(), "eager_ms": eager,
            "rounds": options["rounds"], "results": results, "errors": entrants.errors,
            "failed": failed}


@dataclass
class Field:
    """The contenders of one re-timing: a no-argument call each, the checked calls of each
    candidate, and why any candidate could not take part."""

    calls: dict[str, Callable[[], Any]] = field(default_factory=dict)
    checked: dict[str, TimedCalls] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    tolerances: dict[str, Mapping[str, float | None] | None] = field(default_factory=dict)
    problem: Problem | None = None
    reference: Any = None
    sets: list[InputSet] = field(default_factory=list)

    def after(self) -> dict[str, Callable[[Any], None]]:
        """What runs after each call of a candidate, outside the timed events."""
        return {key: calls.record for key, calls in self.checked.items()}

    def failures(self) -> dict[str, dict[str, str]]:
        """{candidate id: {"flag", "reason"}} for each candidate with a wrong output, judged
        against the reference's outputs for the sets, computed now that the timing is over
        (none existed while the candidates ran)."""
        assert self.problem is not None
        references = [reference_outputs(self.reference, s.inputs) for s in self.sets]
        found = {}
        for key, calls in self.checked.items():
            calls.atol, calls.rtol = tolerance(self.tolerances[key], self.problem, references[0])
            calls.add_references(references)
            flag = calls.flag()
            if flag is not None:
                found[key] = {"flag": flag.name, "reason": flag.reason}
        return found


def build_field(options: dict[str, Any], workdir: Path, device: torch.device) -> Field:
    """The eager reference and every candidate that loads, with the same weights, on the same
    fresh input sets (each on its own copies)."""
    problem = load_problem(Source(**options["problem"]), workdir / "problem")
    init = problem.init_inputs(small=False)
    torch.manual_seed(options["seed"])
    with device:
        reference = problem.model_class(*init)
    sets = input_sets(problem, device)
    entrants = Field(problem=problem, reference=reference, sets=sets)
    if options["reference"]:
        entrants.calls[REFERENCE] = rotating(reference, own_copies(sets))
    for number, candidate in enumerate(options["candidates"]):
        try:
            new_class = load_candidate(Source(candidate["text"], candidate["path"]),
                                       workdir / f"candidate_{number}")
            torch.manual_seed(options["seed"])
            with device:
                model = new_class(*init)
            copy_matching_weights(reference, model)
            calls = TimedCalls(own_copies(sets), model, 0.0, 0.0)  # judged in failures()
            calls.record(calls())  # compile and warm up before any timing
            if device.type == "cuda":
                torch.cuda.synchronize()
        except Exception as exc:  # it passed verification; a failure here is reported, not fatal
            entrants.errors[candidate["id"]] = f"{type(exc).__name__}: {exc}"[:500]
            continue
        entrants.calls[candidate["id"]] = calls
        entrants.checked[candidate["id"]] = calls
        entrants.tolerances[candidate["id"]] = candidate.get("tolerance")
    return entrants


def input_sets(problem: Problem, device: torch.device) -> list[InputSet]:
    """TIMED_SETS input sets from get_inputs() on the device, seeded afresh for this run; the
    reference's outputs for them come after the timing (Field.failures)."""
    sets = []
    for _ in range(TIMED_SETS):
        torch.manual_seed(int.from_bytes(os.urandom(4), "little"))
        with device:
            sets.append(InputSet(problem.inputs(small=False)))
    return sets


def reference_outputs(reference: Any, inputs: list[Any]) -> list[torch.Tensor]:
    """The reference's outputs for `inputs`, computed on copies so the set stays as made."""
    with torch.no_grad():
        return flatten_outputs(reference(*clones(inputs)))


def own_copies(sets: list[InputSet]) -> list[InputSet]:
    """The sets with private copies of their inputs: what one contender does to its inputs
    reaches no other."""
    return [InputSet(clones(s.inputs)) for s in sets]


def tolerance(given: Mapping[str, float | None] | None, problem: Problem,
              reference: list[torch.Tensor]) -> tuple[float, float]:
    """(atol, rtol): the tolerance the candidate was verified with, else the problem's, as the
    verifier derives it without options."""
    if given and given.get("atol") is not None and given.get("rtol") is not None:
        return float(given["atol"]), float(given["rtol"])  # type: ignore[arg-type]
    meta = problem.metadata
    atol, rtol, _ = trivial.judged_tolerance(
        reference, getattr(torch, meta.dtype) if meta.dtype else None, meta.atol, meta.rtol)
    return atol, rtol


def interleaved(contenders: dict[str, Callable[[], Any]], *, rounds: int = DEFAULTS["rounds"],
                runs: int = DEFAULTS["runs"], time_box_s: float = DEFAULTS["time_box_s"],
                after: Mapping[str, Callable[[Any], None]] | None = None
                ) -> dict[str, list[float]]:
    """Per-round median times (ms) of each no-argument call, the order rotated every round and
    the L2 flushed before every run of any of them; `after[name]`, if given, gets each of that
    contender's results once its end event is recorded (time_gpu's `after`)."""
    flush = L2Flusher(torch.device("cuda"))
    names = list(contenders)
    hooks = after or {}
    medians: dict[str, list[float]] = {name: [] for name in names}
    for number in range(rounds):
        shift = number % max(1, len(names))  # none: every candidate failed to load
        for name in names[shift:] + names[:shift]:
            stats = time_gpu(contenders[name], flush, runs=runs, time_box_s=time_box_s,
                             after=hooks.get(name))
            medians[name].append(stats.median_ms)
    return medians
