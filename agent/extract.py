"""Pull the candidate's Python source out of a model's answer.

Real answers are messy: several fenced blocks (the reference echoed, a draft, the final code, a
shell command), wrong language tags (```cuda or ```cpp around a Python file that carries CUDA in
a string), no tag, prose between blocks, no fences at all, stray or missing fences, or a fence
that never closes because the output hit the token limit. code_blocks.py finds the blocks.

Choice, for the class the file must define (`ModelNew` for a candidate, `Model` for a drafted
reference problem), in order:
1. Python-looking blocks (judged by their lines, not their tag) that define the class: the last
   complete one wins, since models revise ("here is the corrected version"); a cut-off one only
   when no complete one exists. A complete block that does not parse gives way to code between
   two fence lines that does (fences that did not pair); otherwise it is taken as written, so
   the model hears about its own syntax error.
2. When the model split the code, so that the chosen block uses names (a kernel, a launcher,
   a CUDA source string) defined only in other blocks of Python, those blocks are joined in front
   of it, in answer order. Blocks that echo the reference `class Model` are never joined.
3. No block defines the class: the code between two fence lines that parses and defines it, when
   the fences paired badly; else the longest Python-looking block.
4. No fences: the Python text that ends with the class, from the first line where it parses.
`Extracted.truncated` is about the returned code: it comes from a fence that never closed.
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass

from kernel_agent.agent.code_blocks import (
    FENCE,
    Block,
    code_blocks,
    parses,
    parsing_end,
    segments,
)

__all__ = ["Extracted", "defines_class", "extract_code"]

_PYTHON_LINE = re.compile(
    r"^(?:import\s+\w|from\s+[\w.]+\s+import\s|def\s+\w+\s*\(|class\s+\w+\s*[(:]|@\w)", re.M)
_REFERENCE = re.compile(r"^class\s+Model\s*[(:]", re.M)
_MODEL_NEW = re.compile(r"^class\s+ModelNew\b", re.M)
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


def defines_class(code: str, name: str = "ModelNew") -> bool:
    """Whether `code` has a top-level `class <name>` line."""
    return re.search(rf"^class\s+{re.escape(name)}\b", code, re.M) is not None


def extract_code(answer: str, *, defines: str = "ModelNew", unfenced: bool = True) -> Extracted:
    """The source in `answer` of a file that defines class `defines`; `unfenced=False` looks only
    in marked blocks (for reasoning, where bare code lines are thoughts, not files)."""
    blocks = code_blocks(answer)
    if not blocks:
        if unfenced:
            return _unfenced(answer, defines)
        return Extracted(None, False, 0, "no fenced code block")
    python = [b for b in blocks if _python(b)]
    with_class = [b for b in python if defines_class(b.code, defines)]
    complete = [b for b in with_class if b.closed]
    if not with_class or (complete and not parses(complete[-1].code)):
        repaired = _between_fences(answer, blocks, defines)
        if repaired is not None:
            return repaired
    if not python:
        tags = ", ".join(sorted({b.tag or "untagged" for b in blocks}))
        return Extracted(None, False, len(blocks), f"no Python code in {len(blocks)} "
                         f"fenced block(s) ({tags})")
    if with_class:
        chosen = (complete or with_class)[-1]
        return _joined(chosen, blocks, len(blocks), defines, later_cut=not with_class[-1].closed
                       and chosen is not with_class[-1])
    chosen = max(python, key=_size)
    return Extracted(chosen.code, not chosen.closed, len(blocks),
                     f"no class {defines} in the answer; took the longest Python block "
                     f"({_describe(chosen, len(blocks))})" + _cut_note(chosen))


def _python(block: Block) -> bool:
    return bool(_PYTHON_LINE.search(block.code))


def _size(block: Block) -> int:
    return sum(1 for line in block.code.splitlines() if line.strip())


def _between_fences(answer: str, blocks: list[Block], defines: str) -> Extracted | None:
    """The last code between two fence lines that parses and defines the class, if pairing the
    fences missed it (a block already found is no new reading, however old a draft it is)."""
    known = {b.code for b in blocks}
    found = [s for s in segments(answer)
             if s not in known and defines_class(s, defines) and parses(s)]
    if not found:
        return None
    return Extracted(found[-1], False, len(blocks), f"the fences did not pair up; took the code "
                     f"between two fence lines that defines class {defines}")


def _joined(chosen: Block, blocks: list[Block], count: int, defines: str,
            later_cut: bool) -> Extracted:
    """The chosen block, preceded by the other blocks that define names it uses (Python blocks,
    or blocks that parse as Python, such as one holding only a CUDA source string)."""
    others = [b for b in blocks if b is not chosen and b.closed and (_python(b) or parses(b.code))
              and not _REFERENCE.search(b.code)
              and not ("ModelNew" in b.code and not _MODEL_NEW.search(b.code))]
    helpers: dict[int, Block] = {}
    for name in _free_names(chosen.code):
        providers = [b for b in others if name in _defined(b.code)]
        if providers:
            helpers[providers[-1].number] = providers[-1]
    parts = [helpers[n] for n in sorted(helpers)]
    note = f"class {defines} in {_describe(chosen, count)}"
    if parts:
        numbers = ", ".join(str(b.number) for b in parts)
        note += f", joined after block(s) {numbers} that define names it uses"
    if later_cut:
        note += f"; a later {defines} block was cut off and was not used"
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


def _describe(block: Block, count: int) -> str:
    tag = f"```{block.tag}" if block.tag else "untagged"
    return f"block {block.number} of {count} ({tag})"


def _cut_note(block: Block) -> str:
    if block.closed:
        return ""
    return "; the answer ends inside this block (its fence never closes): the code is cut off"


def _unfenced(answer: str, defines: str) -> Extracted:
    """Code written without fences: the Python text that ends with the class, from the earliest
    line where it still parses (prose before it, such as an echoed reference, drops out); the
    prose after it is trimmed. Without the class, the Python text from its first line."""
    lines = answer.rstrip().splitlines()
    heads = [i for i, line in enumerate(lines) if defines_class(line, defines)]
    if heads:
        found = _parsing_span(lines, heads[-1])
        if found is not None:
            start, end = found
            dropped = sum(1 for line in lines[end:] if line.strip())
            tail = f", dropping {dropped} trailing line(s) of prose" if dropped else ""
            return Extracted("\n".join(lines[start:end]) + "\n", False, 0,
                             f"no fenced block; took the Python text{tail}")
    start_match = _PYTHON_LINE.search(answer)
    if not start_match:
        return Extracted(None, False, 0, "no code found (no fenced block, no Python lines)")
    rest = answer[start_match.start():].rstrip().splitlines()
    end = parsing_end(rest)  # a shorter start holds no Python line the longest lacks
    if end is not None and _PYTHON_LINE.search(code := "\n".join(rest[:end])):
        dropped = sum(1 for line in rest[end:] if line.strip())
        tail = f", dropping {dropped} trailing line(s) of prose" if dropped else ""
        return Extracted(code + "\n", False, 0, f"no fenced block; took the Python text{tail}")
    return Extracted("\n".join(rest) + "\n", False, 0,
                     "no fenced block; the Python-looking text does not parse")


def _parsing_span(lines: list[str], head: int) -> tuple[int, int] | None:
    """(start, end) of the longest text around line `head` that parses: the end is the last
    line that keeps the class parsing, the start the earliest top-level line that still does."""
    end = parsing_end(lines, head)
    if end is None:
        return None
    # The earliest such line, looked for from the top: a long answer of code parses at its first
    # line, at once, where trying every line upward would parse it once per line.
    start = next((s for s in range(head) if lines[s][:1].strip() and not FENCE.match(lines[s])
                  and parses("\n".join(lines[s:end]))), head)
    return start, end

