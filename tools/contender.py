"""A finalist of the re-timing (tools/retime.py), in a candidate process of its own.

The re-timing compares finalists that each passed verification, so each is built here as the
verifier builds it (the same seed, the reference's weights), on the timing input sets the
re-timing names by their seeds, and called once to compile and warm up. Then it is timed when
asked, each call's output recorded as the verifier records timed calls (tools/timed_check.py),
and checked at the end against the reference's outputs for those sets, computed only then. Every
number sent from here is the candidate's word, as everything is in its process: the re-timing
races each finalist from outside (tools/race.py) before it believes its time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from kernel_agent.tools.timed_check import InputSet, TimedCalls
from kernel_agent.tools.timing import L2Flusher, time_gpu
from kernel_agent.tools.tolerance import Atol
from kernel_agent.tools.verdict import Flag
from kernel_agent.tools.verify import PAYLOAD_DEFAULTS, Verification, use_compile_caches


class Contender:
    """One finalist, built and warmed up: payload {"problem", "candidate", "seed",
    "set_seeds"}."""

    def __init__(self, payload: dict[str, Any], workdir: Path) -> None:
        options = {**PAYLOAD_DEFAULTS, **payload}
        use_compile_caches(options["candidate"]["text"])  # what its verification compiled
        self.verification = verification = Verification(options, workdir)
        verification.load_problem()
        verification.take_snapshots()
        verification.load_candidate()
        verification.build_models()
        self.seeds = [int(seed) for seed in options["set_seeds"]]
        sets = [InputSet(verification.make_inputs(seed)) for seed in self.seeds]
        self.calls = TimedCalls(sets, verification.new, 0.0, 0.0)  # tolerance given in check()
        self.calls.record(self.calls())  # compile and warm up before any timing
        if verification.device.type == "cuda":
            torch.cuda.synchronize()

    def time(self, runs: int, time_box_s: float) -> float:
        """The median of one round of flushed, timed calls, in milliseconds."""
        flush = L2Flusher(self.verification.device)
        stats = time_gpu(self.calls, flush, runs=runs, time_box_s=time_box_s,
                         after=self.calls.record)
        return stats.median_ms

    def check(self, atol: Atol, rtol: float) -> Flag | None:
        """The flag for a wrong output among the calls made so far, judged within the tolerance
        the re-timing gives, against the reference's outputs for the sets made afresh now."""
        verification = self.verification
        self.calls.atol, self.calls.rtol = atol, rtol
        self.calls.add_references(
            (verification.reference_after(verification.make_inputs(seed), copy=False)
             for seed in self.seeds), keep=False)
        return self.calls.flag()
