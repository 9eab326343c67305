"""Finding each problem's solution in a folder of existing generations (evaluate-only mode).

Accepted layouts, tried in this order for a problem `levelL/<id>_<name>.py` (or `<stem>.py`):

    DIR/levelL/<id>_<name>.py              a mirror of the KernelBench tree
    DIR/levelL/<id>_<name>/kernel.py
    DIR/level_L_problem_<id>_sample_0_kernel.py   KernelBench's own generation runs
    DIR/<id>_<name>.py                     flat, when the stem is unique among the problems
    DIR/<id>_<name>/kernel.py              a folder per problem, like examples/

so `--candidates examples` evaluates the examples' own kernels. Files that match no problem are
counted, because a layout mistake shows as "0 matched" rather than as a run of failures.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from kernel_agent.evals.suites import SuiteProblem


@dataclass(frozen=True)
class Matching:
    """Which candidate file solves which problem, and what in the folder matched nothing."""

    found: dict[str, Path]  # problem id -> candidate file
    unmatched: list[Path]


def places(problem: SuiteProblem, flat_ok: bool) -> list[Path]:
    """Relative paths where `problem`'s candidate may be, in order of preference."""
    stem = problem.stem
    paths = []
    if problem.level is not None:
        level = Path(f"level{problem.level}")
        paths += [level / f"{stem}.py", level / stem / "kernel.py",
                  Path(f"level_{problem.level}_problem_{problem.number}_sample_0_kernel.py")]
    if flat_ok:
        paths += [Path(f"{stem}.py"), Path(stem) / "kernel.py"]
    return paths


def match_candidates(directory: Path, problems: list[SuiteProblem]) -> Matching:
    """Each problem's candidate file in `directory`, by the layouts of the module docstring."""
    if not directory.is_dir():
        raise FileNotFoundError(f"candidates folder {directory} does not exist")
    stems = Counter(p.stem for p in problems)
    found: dict[str, Path] = {}
    for problem in problems:
        for relative in places(problem, flat_ok=stems[problem.stem] == 1):
            path = directory / relative
            if path.is_file() and path.resolve() != problem.path.resolve():
                found[problem.id] = path
                break
    used = {p.resolve() for p in found.values()}
    offered = [p for p in sorted(directory.rglob("*.py"))
               if p.name != "problem.py" and p.resolve() not in used]
    return Matching(found, offered)
