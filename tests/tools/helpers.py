"""Test data of the tool tests and small helpers to use it."""

from __future__ import annotations

from pathlib import Path

from kernel_agent.sandbox import Sandbox
from kernel_agent.tools.build_report import BuildReport
from kernel_agent.tools.host_tools import compile_sources

DATA = Path(__file__).resolve().parent.parent / "data" / "tools"


def source(name: str) -> dict[str, str]:
    path = DATA / name
    return {"text": path.read_text(), "path": str(path)}


def line_of(name: str, fragment: str) -> int:
    """The 1-based line of the first line of a data file that contains `fragment`."""
    for number, line in enumerate((DATA / name).read_text().splitlines(), start=1):
        if fragment in line:
            return number
    raise AssertionError(f"{fragment!r} is not in {name}")


def compiled(sandbox: Sandbox, problem: str, candidate: str, directory: Path,
             target: str | None = None) -> BuildReport:
    return compile_sources(source(problem), source(candidate), target=target,
                           artifacts_dir=directory, sandbox=sandbox)
