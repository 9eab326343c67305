"""Remember every kernel that passes, so the next run on the problem starts where this ended."""

from __future__ import annotations

import logging

from kernel_agent.graphs.context import Context
from kernel_agent.graphs.state import Candidate
from kernel_agent.tools.memory import KernelMemoryError

log = logging.getLogger(__name__)


def remember_passing(candidate: Candidate, problem_text: str, context: Context) -> None:
    """Keep a passing kernel in memory; a memory that cannot take it never stops the search."""
    memory = context.kernel_memory()
    if memory is None or candidate["status"] != "pass":
        return
    try:
        memory.remember(problem_text, candidate["code"], candidate["verdict"],
                        origin=context.run_dir or "search")
    except KernelMemoryError as exc:
        log.warning("kernel %s not remembered: %s", candidate["id"], exc)
