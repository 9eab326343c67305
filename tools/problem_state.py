"""What a resident verifier keeps of one problem between candidates: the loaded problem, the
reference model, and input sets with the reference's outputs for them (trials and timing).

A search verifies dozens of candidates of one problem; building the reference and running it on
the same seeded inputs for each of them is work whose result never changes. Candidates never get
these objects: the verifier hands them clones of the inputs and compares what they return with
outputs they never saw. A second fence: every cached tensor and the model's weights are
fingerprinted when kept and checked after each task (`intact`); a state that changed is dropped.

Bounded: at most MAX_PROBLEMS problems, the least recently used dropped first, and input sets
only while they fit the byte budget; what does not fit is made afresh per candidate, as without a
cache. Only a resident process (sandbox/resident.py) keeps anything: elsewhere the next task is a
new process, and keeping would only raise the peak memory of this one.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

from kernel_agent.sandbox.resident import MARK as RESIDENT_MARK
from kernel_agent.tools.integrity import Fingerprint, tensors
from kernel_agent.tools.problem import Problem

MAX_PROBLEMS = 2
CPU_BUDGET_BYTES = 1 << 29


@dataclass
class InputEntry:
    """One seeded input set, as made, and the reference's outputs for it."""

    inputs: list[Any]
    outputs: list[torch.Tensor]
    print: Fingerprint | None = None

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in (*tensors(self.inputs), *self.outputs))

    def fingerprint(self) -> Fingerprint:
        return Fingerprint.of([*tensors(self.inputs), *self.outputs])


@dataclass
class ProblemState:
    """One problem's loaded module, reference model and kept input sets (by seed)."""

    problem: Problem
    model: torch.nn.Module
    budget: int
    entries: dict[tuple[int, bool], InputEntry] = field(default_factory=dict)
    # torch's numeric settings as the problem was loaded: its code always runs under them
    settings: dict[str, Any] = field(default_factory=dict)

    def entry(self, seed: int, answered: bool, make: Callable[[], InputEntry]) -> InputEntry:
        """The input set for `seed`, made by `make` the first time and kept if it fits.
        `answered` sets hold the reference's outputs; the others never do (the verifier computes
        those after the candidate's calls), so their seeds are kept apart."""
        key = (seed, answered)
        if key in self.entries:
            return self.entries[key]
        made = make()
        if sum(e.nbytes for e in self.entries.values()) + made.nbytes <= self.budget:
            made = in_kept_memory(made)
            made.print = made.fingerprint()
            self.entries[key] = made
        return made

    def keeps(self, entry: InputEntry) -> bool:
        return any(kept is entry for kept in self.entries.values())



class ProblemStates:
    """The kept states, keyed by the problem's source hash, device, seed and input size."""

    def __init__(self) -> None:
        self.states: OrderedDict[str, ProblemState] = OrderedDict()

    @staticmethod
    def key(problem_text: str, device: torch.device, seed: int, small: bool) -> str:
        digest = hashlib.sha256(problem_text.encode()).hexdigest()
        return f"{digest}|{device}|{seed}|{'small' if small else 'full'}"

    def get(self, key: str) -> ProblemState | None:
        state = self.states.get(key)
        if state is not None:
            self.states.move_to_end(key)
        return state

    def keep(self, key: str, state: ProblemState) -> None:
        """Keep `state` if this process is resident, dropping the least recently used."""
        if not os.environ.get(RESIDENT_MARK):
            return
        self.states[key] = state
        self.states.move_to_end(key)
        while len(self.states) > MAX_PROBLEMS:
            self.states.popitem(last=False)

    def clear(self) -> None:
        self.states.clear()


def budget_bytes(device: torch.device) -> int:
    """An eighth of the device's memory per problem, a quarter for both kept; none outside a
    resident process."""
    if not os.environ.get(RESIDENT_MARK):
        return 0
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory // 8
    return CPU_BUDGET_BYTES


def clones(values: list[Any]) -> list[Any]:
    """Private copies of the tensors among `values`, for a candidate to do with what it will."""
    return [v.clone() if isinstance(v, torch.Tensor) else v for v in values]


STATES = ProblemStates()


@contextmanager
def kept_memory(device: torch.device) -> Iterator[None]:
    """Allocate what is kept (the reference model, the kept input sets and outputs) from a
    private CUDA memory pool in a resident process.

    Candidates allocate from the default pool. Were kept tensors there, the segments holding
    them would keep free chunks across tasks that the verifier cannot empty (only whole free
    segments go back to the driver and come back poisoned), holding earlier results such as the
    reference's output for the very inputs a no-op candidate is given. Only what is kept goes
    to the pool: its free blocks are never handed back to the device while the pool lives, so
    temporaries allocated there would leave that memory to no one.
    """
    if not uses_kept_pool(device):
        yield
        return
    with torch.cuda.use_mem_pool(kept_pool()):
        yield


def uses_kept_pool(device: torch.device) -> bool:
    return device.type == "cuda" and bool(os.environ.get(RESIDENT_MARK))


def in_kept_memory(entry: InputEntry) -> InputEntry:
    """`entry` copied into the kept pool (where there is one); the original is freed with the
    task's memory."""
    devices = {t.device for t in (*tensors(entry.inputs), *entry.outputs)}
    if len(devices) != 1 or not uses_kept_pool(device := devices.pop()):
        return entry
    with kept_memory(device):
        return InputEntry(clones(entry.inputs), [t.clone() for t in entry.outputs])


@functools.cache
def kept_pool() -> Any:
    """The private CUDA memory pool of kept state, made on first use."""
    return torch.cuda.MemPool()
