"""The torch.compile baseline, compiled on a thread of the judge while the candidate's process
runs. A problem's first verdict otherwise waits for Inductor (seconds of CPU work) after the
candidate is done; meanwhile the judge only waits on a socket, so the two overlap.

The thread only compiles (its one call runs the compiled graph once); the baselines are timed
later, alone on the GPU. The judge's numeric settings and compile caches must stay the same
from the start of the compile to the end of the timing (tools/judge.py holds them)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from kernel_agent.tools import integrity
from kernel_agent.tools.timed_check import InputSet
from kernel_agent.tools.verify import compiled_here, compiling_in_this_thread, rotating


class EarlyCompile:
    """`model` compiled by one call on `inputs`, on a thread started now."""

    def __init__(self, model: Callable[..., Any], inputs: InputSet) -> None:
        self.compiled: Callable[..., Any] | None = None
        self.error: str | None = None
        self.thread = threading.Thread(target=self.compile, args=(model, inputs),
                                       name="baseline-compile", daemon=True)
        self.thread.start()

    def compile(self, model: Callable[..., Any], inputs: InputSet) -> None:
        """All of it on the thread: torch.compile's first use imports Inductor (seconds)."""
        try:
            compiled = compiled_here(model)
            with integrity.OBJECT_SEARCHES.watch(on=False):  # Inductor's own searches
                rotating(compiled, [inputs])()  # the timed calls' own way of calling
            self.compiled = compiled
        except Exception as exc:  # an Inductor failure must not cost the candidate its verdict
            self.error = f"torch.compile failed: {type(exc).__name__}: {exc}"[:500]

    def result(self) -> tuple[Callable[..., Any] | None, str | None]:
        """The compiled model, or None and why not, once the thread is done. A recompile in
        the calling thread (a guard that fails there) must not start compile workers either."""
        self.thread.join()
        compiling_in_this_thread()
        if self.compiled is None:
            return None, self.error or "torch.compile failed"
        return self.compiled, None
