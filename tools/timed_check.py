"""Timed calls are checked calls: the candidate is timed on fresh, rotating input sets, and what
each timed call returns is compared with the reference for that set.

A candidate that computes only while it is watched (counting its calls, reading the clock,
noticing back-to-back calls) must not be able to pass: if only correctness trials were checked,
anything it returned while being timed would go unseen. Here every call made through a
`TimedCalls` (warm-up, probe and timed runs alike) has a random sample of its output elements
gathered on the device right after the call, outside the timed events, and the last call on each
set is compared in full. Each call gets fresh tensor objects over the set's storage, so a cache
keyed on the Python objects it was given last time finds nothing. The verifier computes the
reference's outputs for the sets only after the timed calls, so a candidate that looks for the
answer in the process's memory finds none while it is timed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch

from kernel_agent.tools.compare import OutputMismatch, compare, flatten_outputs, out_of_tolerance
from kernel_agent.tools.tolerance import Atol, atol_of
from kernel_agent.tools.verdict import Flag

TIMED_SETS = 3
SAMPLED_ELEMENTS = 4096
FLAG = "timed_output_wrong"


@dataclass
class InputSet:
    """One set of timing inputs and the reference's outputs for it, which may be added only after
    the timed calls (`TimedCalls.add_references`): then no answer for these inputs exists in the
    process while the candidate runs, for it to find and copy."""

    inputs: list[Any]
    reference: list[torch.Tensor] = field(default_factory=list)
    positions: list[torch.Tensor] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)  # the outputs' sizes the positions are for
    wanted: list[tuple[tuple[int, ...], torch.dtype]] = field(default_factory=list)
    expected: list[torch.Tensor] = field(default_factory=list)  # the reference's samples

    def sample_positions(self, outputs: list[torch.Tensor], generator: torch.Generator) -> None:
        """Random flat positions in every output, drawn at the set's first call; unpredictable to
        the candidate."""
        for out in outputs:
            count = min(SAMPLED_ELEMENTS, out.numel())
            where = torch.randint(0, max(out.numel(), 1), (count,), generator=generator)
            self.positions.append(where.to(out.device))
            self.sizes.append(out.numel())

    def samples_of(self, outputs: list[torch.Tensor]) -> list[torch.Tensor]:
        return [out.reshape(-1)[where]
                for out, where in zip(outputs, self.positions, strict=True)]


@dataclass
class CallRecord:
    """What one call returned: its set, its output shapes and sampled values, or why it could not
    be read."""

    set_number: int
    samples: list[torch.Tensor]
    problem: str = ""
    shapes: list[tuple[tuple[int, ...], torch.dtype]] = field(default_factory=list)


def fresh_views(inputs: list[Any]) -> list[Any]:
    """New tensor objects over the same storage (no device work), other inputs as they are."""
    return [x.detach() if isinstance(x, torch.Tensor) else x for x in inputs]


class TimedCalls:
    """A no-argument callable for time_gpu that rotates input sets and records every output.

    `__call__` runs the candidate on the next set; `record` (time_gpu's `after` hook, called once
    the end event is recorded) gathers the sampled elements of that call's output.
    """

    def __init__(self, sets: list[InputSet], forward: Callable[..., Any], atol: Atol,
                 rtol: float, seed: int | None = None) -> None:
        self.sets, self.forward, self.atol, self.rtol = sets, forward, atol, rtol
        self.generator = torch.Generator().manual_seed(
            seed if seed is not None else int.from_bytes(os.urandom(8), "little") >> 1)
        self.calls = 0
        self.records: list[CallRecord] = []
        self.last: dict[int, list[torch.Tensor]] = {}  # each set's last output, until judged
        self.last_wrong: dict[int, str | None] = {}  # what was wrong with it, once judged

    def __call__(self) -> Any:
        number = self.calls % len(self.sets)
        self.calls += 1
        with torch.no_grad():
            return self.forward(*fresh_views(self.sets[number].inputs))

    def record(self, result: Any) -> None:
        number = (self.calls - 1) % len(self.sets)
        input_set = self.sets[number]
        try:
            outputs = flatten_outputs(result)
        except OutputMismatch as exc:
            self.records.append(CallRecord(number, [], str(exc)))
            return
        shapes = [(tuple(o.shape), o.dtype) for o in outputs]
        if not input_set.positions:
            input_set.sample_positions(outputs, self.generator)
        if [o.numel() for o in outputs] != input_set.sizes:
            self.records.append(CallRecord(number, [], f"returned {shapes}, unlike its first "
                                           "call on the same inputs", shapes))
            return
        self.records.append(CallRecord(number, input_set.samples_of(outputs), shapes=shapes))
        self.last[number] = outputs

    def add_references(self, references: Iterable[list[torch.Tensor]], keep: bool = True) -> None:
        """The reference's outputs for each set, computed after the candidate's timed calls, taken
        one set at a time: each set's last full output is judged and then let go, so that an
        iterable computing each reference on demand never holds every output and every reference
        at once. `keep=False` lets go of each reference too, once its samples are taken."""
        for number, reference in enumerate(references):
            input_set = self.sets[number]
            input_set.reference = reference
            input_set.wanted = [(tuple(r.shape), r.dtype) for r in reference]
            # else every call on the set has the wrong shapes, and is wrong without samples
            input_set.expected = (input_set.samples_of(reference)
                                  if input_set.sizes == [r.numel() for r in reference] else [])
            self.last_wrong[number] = self.judge_last(number, reference)
            if not keep:
                input_set.reference = []
            del reference

    def judge_last(self, number: int, reference: list[torch.Tensor]) -> str | None:
        """What was wrong with the last full output on set `number`, which is then let go."""
        outputs = self.last.pop(number, None)
        if outputs is None or [(o.shape, o.dtype) for o in outputs] != [
                (r.shape, r.dtype) for r in reference]:
            return None  # never recorded, or already among the wrong calls
        trial = compare(outputs, reference, 0, self.atol, self.rtol)
        if trial.passed:
            return None
        return (f"its last output on input set {number} has {trial.mismatched}/"
                f"{trial.elements} elements outside tolerance (max abs err "
                f"{trial.max_abs_error:.3g})")

    def wrong_calls(self) -> list[tuple[int, CallRecord, str]]:
        """(call number, record, what was wrong) for every call whose output was wrong."""
        wrong = []
        for number, record in enumerate(self.records):
            input_set = self.sets[record.set_number]
            if record.problem or record.shapes != input_set.wanted:
                wrong.append((number, record, record.problem or f"returned {record.shapes}, "
                              f"expected {input_set.wanted}"))
                continue
            bad = sum(int(out_of_tolerance(got, want, atol_of(self.atol, i), self.rtol).sum())
                      for i, (got, want) in enumerate(zip(record.samples, input_set.expected,
                                                          strict=True)))
            if bad:
                total = sum(s.numel() for s in record.samples)
                wrong.append((number, record, f"{bad}/{total} sampled elements outside "
                                              "tolerance"))
        return wrong

    def flag(self) -> Flag | None:
        """A rejecting flag when any recorded call, or the last full output of a set, was wrong."""
        if len(self.last_wrong) < len(self.sets):  # the references came with the sets
            assert all(s.reference for s in self.sets), "add_references first"
            self.add_references([s.reference for s in self.sets])
        wrong = self.wrong_calls() + [
            (-1, CallRecord(number, []), problem)
            for number, problem in sorted(self.last_wrong.items()) if problem]
        if not wrong:
            return None
        calls = [n for n, _, _ in wrong if n >= 0]
        first = wrong[0]
        where = f"call {first[0] + 1}" if first[0] >= 0 else "a timed call"
        return Flag(FLAG, f"{len(calls)} of {len(self.records)} calls made while timing returned "
                    f"a wrong output although the correctness trials passed; first, {where} on "
                    f"input set {first[1].set_number}: {first[2]}. The output depends on how or "
                    "when the candidate is called (call counting, clock or caller checks, "
                    "skipped work)")

