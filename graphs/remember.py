"""Remember every kernel that passes, so the next run on the problem starts where this ended.

A kernel is listed under its problem's name: the name the problem gives itself (its
`KERNEL_AGENT["name"]` or module docstring), else its file's name (`19_ReLU` for a KernelBench
file, the folder for the examples' `<name>/problem.py`), which is how a person knows the problem.
"""

from __future__ import annotations

import logging
from pathlib import PurePath

from kernel_agent.graphs.context import Context
from kernel_agent.graphs.state import Candidate
from kernel_agent.tools.fingerprint import problem_name
from kernel_agent.tools.memory import KernelMemoryError

log = logging.getLogger(__name__)


GENERIC_STEMS = ("problem", "reference")  # file names that say nothing of the problem


def remember_passing(candidate: Candidate, problem: dict[str, str], context: Context) -> None:
    """Keep a passing kernel of `problem` ({"text", "path"}) in memory; a memory that cannot
    take it never stops the search."""
    memory = context.kernel_memory()
    if memory is None or candidate["status"] != "pass":
        return
    try:
        memory.remember(problem["text"], candidate["code"], candidate["verdict"],
                        origin=context.run_dir or "search",
                        name=problem_name(problem["text"]) or file_name(problem.get("path")))
    except KernelMemoryError as exc:
        log.warning("kernel %s not remembered: %s", candidate["id"], exc)


def file_name(path: str | None) -> str | None:
    """A problem file's name without `.py`, or its folder's for `<name>/problem.py`; None for a
    name that says nothing (`problem.py` alone, a chat's `reference_2.py`)."""
    if not path:
        return None
    file = PurePath(path)
    stem = file.stem
    if stem == "problem" and file.parent.name:
        stem = file.parent.name
    return None if stem.rstrip("_0123456789") in GENERIC_STEMS else stem
