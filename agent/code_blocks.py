"""Find the code blocks in a model's text, however the fences are written.

Markdown fences (backticks or tildes, three or more, any language tag, indented inside lists)
are paired the way a reader pairs them, which is not always the way CommonMark does:
- an opening fence whose block is still empty when a tagged fence follows (a bare fence line,
  then one tagged python) was a stray: the block starts at the tagged fence;
- a tagged fence inside a block that already holds text opens a new block (the model forgot to
  close the previous one, whose code ends where the prose after it begins), so one missing
  fence never shifts the pairing of the rest;
- a longer fence (four backticks, five tildes) is closed only by one as long: shorter fences
  inside are text; a block that wraps others and is not code itself (a markdown block around a
  python block) stands for the blocks inside it.
XML-style tags on their own lines (`<triton>`, `<python>`, `<code>`, ...) are read as fences when
they hold no fences themselves, and dropped as wrappers when they do.

`segments` is for replies whose fences do not pair at all: the text between every two fence
lines, whatever pairing would say.
"""

from __future__ import annotations

import ast
import itertools
import re
import textwrap
from dataclasses import dataclass

__all__ = ["Block", "code_blocks", "segments"]

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)$")
_TAGS = "triton|python|py|cuda|cpp|code|kernel|solution|answer|final_code"
_XML_OPEN = re.compile(rf"^[ \t]*<(?P<tag>{_TAGS})>[ \t]*(?P<rest>.*)$", re.I)
_XML_CLOSE = re.compile(rf"^(?P<rest>.*?)[ \t]*</(?P<tag>{_TAGS})>[ \t]*$", re.I)


@dataclass(frozen=True)
class Block:
    """One block: its position among the text's blocks, language tag, code, and whether it
    ended before the text did (False: the text ends inside it, as a reply cut off does)."""

    number: int
    tag: str
    code: str
    closed: bool


def code_blocks(text: str) -> list[Block]:
    """Every non-empty block in `text`, in order."""
    found = _paired(_xml_as_fences(text.splitlines()))
    return [Block(n, tag, code, closed) for n, (tag, code, closed) in enumerate(found, 1)]


def segments(text: str) -> list[str]:
    """The text between each two consecutive fence lines, ignoring how they would pair."""
    lines = _xml_as_fences(text.splitlines())
    marks = [i for i, line in enumerate(lines) if FENCE.match(line)]
    return [textwrap.dedent(_body(lines[a + 1:b])) for a, b in itertools.pairwise(marks)
            if any(line.strip() for line in lines[a + 1:b])]


def _paired(lines: list[str]) -> list[tuple[str, str, bool]]:
    found: list[tuple[str, str, bool]] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        i += 1
        if not opening:
            continue
        fence, indent, tag = opening["fence"], len(opening["indent"]), _tag(opening["info"])
        body: list[str] = []
        closed = unterminated = False
        while i < len(lines):
            inner = FENCE.match(lines[i])
            if inner and inner["fence"][0] == fence[0] and len(inner["fence"]) >= len(fence):
                if not inner["info"].strip():
                    closed, i = True, i + 1
                    break
                if not any(line.strip() for line in body):  # the opening fence was a stray
                    fence, indent, tag = inner["fence"], len(inner["indent"]), _tag(inner["info"])
                    i += 1
                    continue
                closed = unterminated = True  # a new block opens: this one was never closed
                break
            body.append(lines[i][indent:] if lines[i][:indent].isspace() else lines[i])
            i += 1
        code = _without_prose_after(_body(body)) if unterminated else _body(body)
        if any(FENCE.match(line) for line in body) and not parses(code):
            found += _paired(body)  # a wrapper, not code: the blocks inside it count
        elif code.strip():
            found.append((tag, code, closed))
    return found


def _xml_as_fences(lines: list[str]) -> list[str]:
    """`<triton>` ... `</triton>` as a fenced block; as nothing when it wraps fences itself."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        opening = _XML_OPEN.match(lines[i])
        if not opening or f"</{opening['tag'].lower()}>" in opening["rest"].lower():
            out.append(lines[i])  # no tag, or one opened and closed within a line of prose
            i += 1
            continue
        tag = opening["tag"].lower()
        body = [opening["rest"]] if opening["rest"].strip() else []
        end = i + 1
        while end < len(lines):
            closing = _XML_CLOSE.match(lines[end])
            if closing and closing["tag"].lower() == tag:
                if closing["rest"].strip():
                    body.append(closing["rest"])
                break
            body.append(lines[end])
            end += 1
        if any(FENCE.match(line) for line in body):  # a wrapper: its fences say the rest
            out += body
        else:
            out += [f"```{tag}", *body, *(["```"] if end < len(lines) else [])]
        i = end + 1
    return out


def _without_prose_after(code: str) -> str:
    """A block that was never closed runs into the prose before the next one: the code is its
    longest start that parses (all of it when no start does)."""
    lines = code.splitlines()
    end = parsing_end(lines)
    return code if end is None else _body(lines[:end])


def parsing_end(lines: list[str], start: int = 0) -> int | None:
    """The largest `end` past `start` for which lines[start:end] parse and end on a line that
    is not blank; None if there is none.

    Text that fails at line L fails at L in every longer text too (the parser reads the same
    tokens up to there), so the search goes on from the line before L: a few parses, not one
    per line, however long the text."""
    end = len(lines)
    while end > start:
        if not lines[end - 1].strip():
            end -= 1
            continue
        error = syntax_error("\n".join(lines[start:end]))
        if error is None:
            return end
        failed_at = start + (error.lineno or 0)  # that line is lines[failed_at - 1]
        end = failed_at - 1 if start < failed_at < end else end - 1
    return None


def syntax_error(code: str) -> SyntaxError | None:
    """Why `code` is not valid Python, or None when it is."""
    try:
        ast.parse(code)
    except SyntaxError as error:
        return error
    return None


def parses(code: str) -> bool:
    """Whether `code` is valid Python."""
    return syntax_error(code) is None


def _tag(info: str) -> str:
    return (info.split() or [""])[0].lower()


def _body(lines: list[str]) -> str:
    return "\n".join(lines).strip("\n") + "\n"
