"""What the resident judge keeps of one problem between candidates: the loaded problem and its
reference model, with torch's numeric settings as the problem was loaded.

A search verifies dozens of candidates of one problem; loading the problem and building the
reference for each of them is work whose result never changes. The judge (tools/judge.py) never
runs a candidate's code, so nothing a candidate does can reach what it keeps; each candidate's
own process builds its own. Bounded: at most MAX_PROBLEMS problems, the least recently used
dropped first. Only a resident process (sandbox/resident.py) keeps anything: elsewhere the next
task is a new process.
"""

from __future__ import annotations

import hashlib
import os
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import torch

from kernel_agent.sandbox.resident import MARK as RESIDENT_MARK
from kernel_agent.tools.problem import Problem

MAX_PROBLEMS = 2


@dataclass
class InputEntry:
    """One seeded input set, as made, and the reference's outputs for it (none yet for a set
    whose outputs are computed only after the candidate's calls)."""

    inputs: list[Any]
    outputs: list[torch.Tensor]


@dataclass
class ProblemState:
    """One problem's loaded module and reference model."""

    problem: Problem
    model: torch.nn.Module
    # torch's numeric settings as the problem was loaded: its code always runs under them
    settings: dict[str, Any] = field(default_factory=dict)


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


def clones(values: list[Any]) -> list[Any]:
    """Private copies of the tensors among `values`, for a candidate to do with what it will."""
    return [v.clone() if isinstance(v, torch.Tensor) else v for v in values]


STATES = ProblemStates()
