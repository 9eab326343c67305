"""The chosen candidate as select hands it to the tune node: a kernel verified for real."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kernel_agent.graphs.state import Candidate
from kernel_agent.sandbox import Sandbox
from kernel_agent.tools.check import verify_sources


def chosen_candidate(problem: Path, kernel: Path, sandbox: Sandbox,
                     options: dict[str, Any]) -> Candidate:
    """`kernel` verified against `problem` with the verifier `options`, as round 1's best."""
    code = kernel.read_text()
    verdict = verify_sources({"text": problem.read_text(), "path": str(problem)},
                             {"text": code, "path": "round1_branch0.py"}, sandbox=sandbox,
                             **options)
    assert verdict.passed, verdict.summary()
    return Candidate(id=f"r01-b0-{kernel.stem}", round=1, branch=0, idea="as written",
                     path="round1_branch0.py", code=code, status=verdict.status, headline="",
                     speedup=verdict.timing.speedup_eager if verdict.timing else None,
                     verdict=verdict.to_dict(), verify_s=verdict.elapsed_s, model_s=0.0,
                     tokens=0, note="")
