"""Finding each problem's solution in a folder of existing generations (evaluate-only mode).

Accepted layouts, tried in this order for a problem `levelL/<id>_<name>.py` (or `<stem>.py`):

    DIR/levelL/<id>_<name>.py              a mirror of the KernelBench tree
    DIR/levelL/<id>_<name>/kernel.py
    DIR/level_L_problem_<id>_sample_0_kernel.py   KernelBench's own generation runs
    DIR/<id>_<name>.py                     flat, when the stem is unique among the problems
    DIR/<id>_<name>/kernel.py              a folder per problem, like examples/

so `--candidates examples` evaluates the examples' own kernels. Files are matched against every
problem of the suite, selected or not, so a file for a problem left out by `--problems` is not a
stray. A selected problem without a candidate is told the paths it was looked for under, and the
files that matched no problem (a misspelt name shows up there, closest first).
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from kernel_agent.evals.suites import SuiteProblem


@dataclass(frozen=True)
class Matching:
    """Which candidate file solves which problem, and what in the folder matched nothing."""

    found: dict[str, Path]  # problem id -> candidate file
    unmatched: list[Path]  # files that no problem of the suite took
    tried: dict[str, list[Path]]  # a selected problem without a candidate -> paths looked at

    def missing(self, problem: SuiteProblem, directory: Path, shown: int = 5) -> str:
        """Why `problem` has no candidate: where it was looked for, and the files of
        `directory` that matched no problem, the most alike first."""
        looked = ", ".join(str(p) for p in self.tried[problem.id])
        text = (f"no candidate file: looked for {looked} in {directory}" if looked else
                f"no candidate file: {problem.stem} names several problems, so only a level "
                f"folder in {directory} could tell them apart")
        if not self.unmatched:
            return text
        names = [str(p.relative_to(directory)) for p in self.unmatched]
        names.sort(key=lambda n: -difflib.SequenceMatcher(
            None, Path(n).stem.lower(), problem.stem.lower()).ratio())
        more = f" and {len(names) - shown} more" if len(names) > shown else ""
        return (f"{text}; {len(names)} file(s) there matched no problem: "
                f"{', '.join(names[:shown])}{more}")


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


def match_candidates(directory: Path, problems: list[SuiteProblem],
                     selected: Collection[str] | None = None) -> Matching:
    """Each selected problem's candidate file in `directory` (all of `problems`, the whole
    suite, unless `selected` names some), by the layouts of the module docstring."""
    if not directory.is_dir():
        raise FileNotFoundError(f"candidates folder {directory} does not exist")
    stems = Counter(p.stem for p in problems)
    found: dict[str, Path] = {}
    tried: dict[str, list[Path]] = {}
    for problem in problems:
        paths = places(problem, flat_ok=stems[problem.stem] == 1)
        for relative in paths:
            path = directory / relative
            if path.is_file() and path.resolve() != problem.path.resolve():
                found[problem.id] = path
                break
        else:
            tried[problem.id] = paths
    used = {p.resolve() for p in found.values()}
    offered = [p for p in sorted(directory.rglob("*.py"))
               if p.name != "problem.py" and p.resolve() not in used]
    if selected is not None:
        found = {k: v for k, v in found.items() if k in selected}
        tried = {k: v for k, v in tried.items() if k in selected}
    return Matching(found, offered, tried)
