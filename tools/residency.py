"""Whether a resident verifier process may take the next candidate (sandbox/resident.py asks).

A candidate runs inside the verifier's process, so whatever it leaves behind would meet the next
candidate: a replaced function (torch's, the timers', or the verifier's own), a sticky CUDA error,
a loaded C++ extension (a shared object cannot be unloaded), its modules, torch's numeric settings
as it set them, or its results in freed device memory, where a later no-op could find a correct
answer for the same seeded inputs. Any of the first three ends the process; the rest are cleared
here.
"""

from __future__ import annotations

import gc
import sys
from typing import Any

import torch

from kernel_agent.tools import integrity, numeric_settings
from kernel_agent.tools.problem_state import STATES

CANDIDATE_MODULE_PREFIX = "kernel_agent_candidate_"
PROBLEM_MODULE_PREFIX = "kernel_agent_problem_"


class Residency:
    """What the verifier task tells the resident process after each candidate."""

    def __init__(self) -> None:
        self.pristine: dict[str, int] | None = None
        self.settings: dict[str, Any] = {}
        self.kernels: dict[str, int] = {}  # torch's operators' kernels as the process started
        self.last_clean = False

    def begin(self) -> None:
        """Called as a task starts: the first one records the untouched code."""
        if self.pristine is None:
            self.pristine = integrity.snapshot_callables()
            self.settings = numeric_settings.snapshot()
            self.kernels = integrity.aten_kernels()
        self.last_clean = False

    def trust_kernels(self) -> None:
        """Take the operators' kernels as they are now as the process's own: called after the
        verifier's own compiling, once the candidate's checks are done."""
        self.kernels = integrity.aten_kernels()

    def finish(self, clean: bool) -> None:
        """Called as a task ends: `clean` unless a CUDA or memory error, or a C++ extension."""
        self.last_clean = clean

    def settle(self) -> str:
        """Clear what the candidate left; why the process must not take another one ("" if it
        may)."""
        held = {state.problem.module.__name__ for state in STATES.states.values()}
        for name in [n for n in sys.modules if n.startswith(CANDIDATE_MODULE_PREFIX)
                     or (n.startswith(PROBLEM_MODULE_PREFIX) and n not in held)]:
            del sys.modules[name]
        gc.collect()
        numeric_settings.restore(self.settings)
        if not self.last_clean:
            return "the task ended unclean (a CUDA or memory error, or a C++ extension loaded)"
        if self.pristine is None:
            return "no snapshot of the untouched code was taken"
        if names := integrity.replaced_callables(self.pristine):
            return f"changed while the task ran: {', '.join(names[:5])}"
        if modes := integrity.active_torch_modes():
            return f"torch modes left in force: {', '.join(modes[:5])}"
        if hooks := integrity.interpreter_hooks():
            return f"interpreter hooks left set: {', '.join(hooks)}"
        if kernels := integrity.replaced_kernels(self.kernels):
            return f"torch operators given other kernels: {', '.join(kernels[:5])}"
        if not STATES.check():
            return "the kept problem state changed"
        if torch.cuda.is_initialized():
            try:
                scrub_free_memory()
            except RuntimeError as exc:  # a sticky CUDA error surfaces here
                return f"a CUDA error while scrubbing freed memory: {exc}"[:300]
        return ""


def scrub_free_memory() -> None:
    """Overwrite the device memory the finished task used with NaN bytes, then hand it back.

    Its outputs were right for inputs the next candidate also gets (same seeds); left in freed
    memory, they would be there for a no-op to return.
    """
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    free, _ = torch.cuda.mem_get_info()
    used = torch.cuda.max_memory_reserved() - torch.cuda.memory_reserved()
    size = min(max(used, 1 << 22), int(free * 0.9)) // 4
    poison: Any = torch.full((size,), -1, dtype=torch.int32, device="cuda")
    torch.cuda.synchronize()
    del poison
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
