"""Suites: the problems of a KernelBench checkout, of any folder, or of the built-in examples.

A KernelBench checkout keeps problems in level folders (`KernelBench/level1/19_ReLU.py`); the
suite accepts the repository root, its `KernelBench` folder or one level folder. Any other folder
counts as a suite of its `*.py` problem files and `<name>/problem.py` subfolders. `examples`
names the repository's examples/. A problem's number is the `<id>` of `<id>_<name>.py`, else its
1-based position in the sorted folder, so `--problems 1-3` works on every suite.

A file that cannot be read as a Python problem (not UTF-8, unreadable, a syntax error) is still a
problem of its suite: `problem_error` says why, and the run records it as a bad input instead of
leaving it out, so a report never counts fewer problems than the suite holds.
"""

from __future__ import annotations

import ast
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

BUILTIN = "examples"
EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
LEVEL_DIR = re.compile(r"^level(\d+)$")
NUMBERED = re.compile(r"^(\d+)_(.+)$")
PROBLEM_MARK = re.compile(rb"^class Model\b", re.M)


class SuiteError(Exception):
    """A suite path that holds no problems, or a selection that matches none."""


@dataclass(frozen=True)
class SuiteProblem:
    """One problem of a suite: `id` is unique in the suite and names it in every report."""

    id: str
    level: int | None
    number: int
    name: str
    path: Path

    @property
    def stem(self) -> str:
        """The file name without `.py` (or the folder name for `<name>/problem.py`)."""
        return stem_of(self.path)

    def sha256(self) -> str:
        """The file's hash; empty for a file that cannot be read (a bad input)."""
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()
        except OSError:
            return ""


@dataclass(frozen=True)
class Suite:
    """Where the problems came from, and what kind of suite that is."""

    name: str
    kind: str  # kernelbench, folder, examples
    root: Path
    problems: tuple[SuiteProblem, ...]


def load_suite(spec: str | Path) -> Suite:
    """The suite that `spec` names; see the module docstring for what is recognised."""
    if str(spec) == BUILTIN:
        return Suite(BUILTIN, "examples", EXAMPLES_DIR, folder_problems(EXAMPLES_DIR))
    root = Path(spec).expanduser().resolve()
    if not root.is_dir():
        raise SuiteError(f"suite {spec} is not a folder (nor the built-in suite '{BUILTIN}')")
    levels = level_folders(root)
    if levels:
        problems = tuple(p for level, folder in levels for p in level_problems(level, folder))
        return Suite(root.name, "kernelbench", root, require(problems, root))
    match = LEVEL_DIR.match(root.name)
    if match:
        return Suite(root.name, "kernelbench", root,
                     require(level_problems(int(match.group(1)), root), root))
    return Suite(root.name, "folder", root, require(folder_problems(root), root))


def level_folders(root: Path) -> list[tuple[int, Path]]:
    """`levelN` folders of a KernelBench folder or of a checkout's root, by level."""
    for base in (root, root / "KernelBench"):
        found = [(int(m.group(1)), d) for d in sorted(base.glob("level*"))
                 if d.is_dir() and (m := LEVEL_DIR.match(d.name))]
        if found:
            return sorted(found)
    return []


def level_problems(level: int, folder: Path) -> tuple[SuiteProblem, ...]:
    return tuple(SuiteProblem(f"level{level}/{p.stem}", level, number, name, p)
                 for number, name, p in numbered(problem_files(folder)))


def folder_problems(folder: Path) -> tuple[SuiteProblem, ...]:
    files = problem_files(folder) + sorted(p for p in folder.glob("*/problem.py"))
    return tuple(SuiteProblem(stem_of(p), None, number, name, p)
                 for number, name, p in numbered(files))


def problem_files(folder: Path) -> list[Path]:
    """Python files in `folder` that define `class Model` (helpers and candidates are skipped),
    and those that cannot be read at all: whether they are problems is unknown, so they are
    kept, to be reported as bad inputs."""
    return [p for p in sorted(folder.glob("*.py"))
            if (data := read(p)) is None or PROBLEM_MARK.search(data)]


def numbered(paths: list[Path]) -> list[tuple[int, str, Path]]:
    """(number, name, path) by number: `<id>_<name>` gives both, else position and stem."""
    items = []
    for position, path in enumerate(sorted(paths, key=stem_of), start=1):
        match = NUMBERED.match(stem_of(path))
        items.append((int(match.group(1)), match.group(2), path) if match
                     else (position, stem_of(path), path))
    return sorted(items, key=lambda item: (item[0], item[1]))


def stem_of(path: Path) -> str:
    return path.parent.name if path.name == "problem.py" else path.stem


def read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def problem_error(path: Path) -> str | None:
    """Why `path` cannot be a problem (unreadable, not UTF-8, not Python); None if it can."""
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        return f"problem file {path} cannot be read: {exc.strerror or exc}"
    except UnicodeDecodeError as exc:
        return (f"problem file {path} is not UTF-8 text (byte {exc.object[exc.start]:#04x} at "
                f"offset {exc.start})")
    try:
        ast.parse(text, filename=str(path))
    except SyntaxError as exc:
        return f"problem file {path} is not valid Python: line {exc.lineno}: {exc.msg}"
    if not PROBLEM_MARK.search(text.encode()):
        return f"problem file {path} defines no `class Model`"
    return None


def require(problems: tuple[SuiteProblem, ...], root: Path) -> tuple[SuiteProblem, ...]:
    if not problems:
        raise SuiteError(f"no problem files (Python files with `class Model`) in {root}")
    ids = [p.id for p in problems]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise SuiteError(f"problem names used twice in {root}: {duplicated}")
    return problems


def select(suite: Suite, levels: list[int] | None = None,
           numbers: set[int] | None = None) -> list[SuiteProblem]:
    """The problems of the chosen levels whose numbers are in `numbers` (None: all)."""
    if levels and suite.kind != "kernelbench":
        raise SuiteError(f"--level needs a KernelBench suite with level folders; {suite.root} "
                         "has none")
    chosen = [p for p in suite.problems
              if (not levels or p.level in levels) and (numbers is None or p.number in numbers)]
    if not chosen:
        raise SuiteError(f"no problem of {suite.root} matches the selection (levels "
                         f"{levels or 'all'}, numbers {sorted(numbers) if numbers else 'all'})")
    return chosen
