"""Compiler errors cut to what the model can act on: its own file and line, the message, context.

Triton's CompilationError knows the failing AST node relative to the function's source (line 1
is the `def`); the function is found in the candidate's text to give the line in the candidate's
file. For an error inside a helper called from the kernel, the innermost error in the chain is
the one that names the real line. Other failures (ptxas, MLIR passes, nvcc) keep only their
first meaningful lines.
"""

from __future__ import annotations

import re

from kernel_agent.tools.problem import excerpt
from kernel_agent.tools.verdict import ErrorInfo

MESSAGE_CHARS = 800
CONTEXT_LINES = 2
MAX_TOOL_LINES = 12
NVCC_ERROR = re.compile(r"^(?P<file>.*?)\((?P<line>\d+)\): (?P<kind>error|catastrophic error)")


def compilation_errors(exc: BaseException) -> list[BaseException]:
    """Every CompilationError in the exception's cause chain, outermost first."""
    from triton.compiler.errors import CompilationError

    chain, seen = [], set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, CompilationError):
            chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def function_start(function_source: str, text: str) -> int | None:
    """Line (1-based) in `text` where the dedented `function_source` begins."""
    wanted = [line.strip() for line in function_source.splitlines()]
    if not wanted:
        return None
    lines = [line.strip() for line in text.splitlines()]
    for start, line in enumerate(lines):
        if line == wanted[0] and lines[start:start + len(wanted)] == wanted:
            return start + 1
    return None


def cut(message: str, limit: int = MESSAGE_CHARS) -> str:
    message = message.strip()
    return message if len(message) <= limit else message[:limit] + " ... (cut)"


def triton_error(exc: BaseException, text: str, path: str) -> ErrorInfo:
    """An ErrorInfo for an exception raised by triton.compile on the candidate's kernel."""
    chain = [e for e in compilation_errors(exc) if hasattr(getattr(e, "node", None), "lineno")]
    if not chain:
        return ErrorInfo("compile_error", tool_failure_text(exc))
    inner = chain[-1]
    message = next((e.error_message for e in reversed(chain) if e.error_message), None)
    if not message:
        cause = inner.__cause__ or inner.__context__
        message = f"{type(cause).__name__}: {cause}" if cause else type(inner).__name__
    kind = "unsupported_construct" if type(inner).__name__ == "UnsupportedLanguageConstruct" else (
        "compile_error")
    start = function_start(inner.src or "", text)
    line = start + inner.node.lineno - 1 if start else None
    return ErrorInfo(kind, cut(clean_message(message)), path, line,
                     excerpt(text, line, CONTEXT_LINES))


def clean_message(message: str) -> str:
    """`AssertionError('x')` -> `AssertionError: x`, as Python prints exceptions."""
    match = re.fullmatch(r"(\w+)\((['\"])(.*)\2\)", message.strip(), flags=re.S)
    return f"{match[1]}: {match[3]}" if match else message


def tool_failure_text(exc: BaseException) -> str:
    """The first lines of a ptxas/MLIR/backend failure, without reproducer dumps."""
    lines = []
    for line in f"{type(exc).__name__}: {exc}".splitlines():
        if line.startswith(("Repro command", "====", "please share")):
            break
        if line.strip():
            lines.append(line)
    return cut("\n".join(lines[:MAX_TOOL_LINES]))


def nvcc_error(output: str, text: str, path: str) -> ErrorInfo:
    """The first nvcc/compiler error of a CUDA build, located in the candidate where possible.

    nvcc names its generated source file; the line it echoes under the message is looked up
    in the candidate, whose CUDA source is a string inside the Python file.
    """
    lines = output.splitlines()
    for index, line in enumerate(lines):
        match = NVCC_ERROR.match(line.strip())
        if not match:
            continue
        shown = [line.strip(), *(s.rstrip() for s in lines[index + 1:index + 4])]
        echoed = next((s.strip() for s in lines[index + 1:index + 3]
                       if s.strip() and set(s.strip()) != {"^"}), "")
        located = [n for n, src in enumerate(text.splitlines(), start=1)
                   if echoed and src.strip() == echoed]
        where = located[0] if len(located) == 1 else None
        return ErrorInfo("compile_error", cut("\n".join(shown)), path, where,
                         excerpt(text, where, CONTEXT_LINES))
    errors = [s for s in lines if "error" in s.lower()]
    return ErrorInfo("compile_error", cut("\n".join(errors[:MAX_TOOL_LINES]) or output[-1500:]))
