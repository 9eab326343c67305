"""Pull the candidate's Python source out of a model's answer.

Real answers are messy: several fenced blocks (the reference echoed, a draft, the final code, a
shell command), wrong language tags (```cuda or ```cpp around a Python file that carries CUDA in
a string), no tag, prose between blocks, no fences at all, or a fence that never closes because
the output hit the token limit.

Choice, in order:
1. Python-looking blocks (judged by their lines, not their tag) that define `class ModelNew`:
   the last complete one wins, since models revise ("here is the corrected version"); a cut-off
   one only when no complete one exists.
2. When the model split the code, so that the ModelNew block uses names (a kernel, a launcher,
   a CUDA source string) defined only in other Python blocks, those blocks are joined in front of
   it, in answer order. Blocks that echo the reference `class Model` are never joined.
3. No ModelNew anywhere: the longest Python-looking block.
4. No fences: the Python-looking span of the text, trimmed at the end until it parses.
`Extracted.truncated` is about the returned code: it comes from a fence that never closed.
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass

__all__ = ["Extracted", "extract_code"]

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)$")
_PYTHON_LINE = re.compile(
    r"^(?:import\s+\w|from\s+[\w.]+\s+import\s|def\s+\w+\s*\(|class\s+\w+\s*[(:]|@\w)", re.M)
_MODEL_NEW = re.compile(r"^class\s+ModelNew\b", re.M)
_REFERENCE = re.compile(r"^class\s+Model\s*[(:]", re.M)
_DEFINES = re.compile(
    r"^(?:(?:async\s+)?def\s+(\w+)|class\s+(\w+)|(\w+)\s*(?::[^=\n]*)?=(?!=))", re.M)
_WORD = re.compile(r"\b[A-Za-z_]\w*\b")


@dataclass(frozen=True)
class Extracted:
    """The code (None when there is none), whether it was cut off, how many fenced blocks the
    answer had, and a note for people and for the next prompt saying what was picked and why."""

    code: str | None
    truncated: bool
    blocks: int
    note: str


@dataclass(frozen=True)
class _Block:
    number: int  # 1-based, in answer order
    tag: str
    code: str
    closed: bool

    @property
    def python(self) -> bool:
        return bool(_PYTHON_LINE.search(self.code))

    @property
    def size(self) -> int:
        return sum(1 for line in self.code.splitlines() if line.strip())


def extract_code(answer: str) -> Extracted:
    """The candidate source in `answer` (the answer part, after `split_reasoning`)."""
    blocks = _fenced_blocks(answer)
    if not blocks:
        return _unfenced(answer)
    python = [b for b in blocks if b.python]
    if not python:
        tags = ", ".join(sorted({b.tag or "untagged" for b in blocks}))
        return Extracted(None, False, len(blocks), f"no Python code in {len(blocks)} "
                         f"fenced block(s) ({tags})")
    with_model = [b for b in python if _MODEL_NEW.search(b.code)]
    if with_model:
        complete = [b for b in with_model if b.closed]
        chosen = (complete or with_model)[-1]
        return _joined(chosen, python, len(blocks), later_cut=not with_model[-1].closed
                       and chosen is not with_model[-1])
    chosen = max(python, key=lambda b: b.size)
    return Extracted(chosen.code, not chosen.closed, len(blocks),
                     f"no class ModelNew in the answer; took the longest Python block "
                     f"({_describe(chosen, len(blocks))})" + _cut_note(chosen))


def _fenced_blocks(text: str) -> list[_Block]:
    blocks: list[_Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        tag = (opening["info"].split() or [""])[0].lower()
        body: list[str] = []
        i += 1
        closed = False
        while i < len(lines):
            closing = _FENCE.match(lines[i])
            if (closing and closing["fence"][0] == fence[0]
                    and len(closing["fence"]) >= len(fence) and not closing["info"].strip()):
                closed = True
                i += 1
                break
            body.append(lines[i][indent:] if lines[i][:indent].isspace() else lines[i])
            i += 1
        code = "\n".join(body).strip("\n")
        if code.strip():
            blocks.append(_Block(len(blocks) + 1, tag, code + "\n", closed))
    return blocks


def _joined(chosen: _Block, python: list[_Block], count: int, later_cut: bool) -> Extracted:
    """The ModelNew block, preceded by the other blocks that define names it uses."""
    others = [b for b in python if b is not chosen and b.closed and not _REFERENCE.search(b.code)
              and not ("ModelNew" in b.code and not _MODEL_NEW.search(b.code))]
    helpers: dict[int, _Block] = {}
    for name in _free_names(chosen.code):
        providers = [b for b in others if name in _defined(b.code)]
        if providers:
            helpers[providers[-1].number] = providers[-1]
    parts = [helpers[n] for n in sorted(helpers)]
    note = f"class ModelNew in {_describe(chosen, count)}"
    if parts:
        numbers = ", ".join(str(b.number) for b in parts)
        note += f", joined after block(s) {numbers} that define names it uses"
    if later_cut:
        note += "; a later ModelNew block was cut off and was not used"
    code = "\n\n".join(b.code.rstrip("\n") for b in [*parts, chosen]) + "\n"
    return Extracted(code, not chosen.closed, count, note + _cut_note(chosen))


def _free_names(code: str) -> set[str]:
    """Names a block uses without binding them anywhere (scopes are not told apart)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:  # a cut-off block: fall back to every word it does not define
        return set(_WORD.findall(code)) - _defined(code)
    loaded: set[str] = set()
    bound: set[str] = set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
    return loaded - bound


def _defined(code: str) -> set[str]:
    """Top-level names a block defines (functions, classes, assignments, imports)."""
    names = {n for groups in _DEFINES.findall(code) for n in groups if n}
    for line in code.splitlines():
        if line.startswith(("import ", "from ")):
            imported = line.split(" import ", 1)[-1] if " import " in line else line[7:]
            for part in imported.strip("()").split(","):
                words = part.split()
                if words:
                    names.add(words[-1].split(".")[0])
    return names


def _describe(block: _Block, count: int) -> str:
    tag = f"```{block.tag}" if block.tag else "untagged"
    return f"block {block.number} of {count} ({tag})"


def _cut_note(block: _Block) -> str:
    if block.closed:
        return ""
    return "; the answer ends inside this block (its fence never closes): the code is cut off"


def _unfenced(answer: str) -> Extracted:
    """Code written without fences: from the first Python-looking line, trimmed until it
    parses (dropping the prose that often follows the code)."""
    start = _PYTHON_LINE.search(answer)
    if not start:
        return Extracted(None, False, 0, "no code found (no fenced block, no Python lines)")
    lines = answer[start.start():].rstrip().splitlines()
    for end in range(len(lines), 0, -1):
        if not lines[end - 1].strip():
            continue
        code = "\n".join(lines[:end])
        if _parses(code) and _PYTHON_LINE.search(code):
            dropped = sum(1 for line in lines[end:] if line.strip())
            tail = f", dropping {dropped} trailing line(s) of prose" if dropped else ""
            return Extracted(code + "\n", False, 0, f"no fenced block; took the Python text{tail}")
    return Extracted("\n".join(lines) + "\n", False, 0,
                     "no fenced block; the Python-looking text does not parse")


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True
