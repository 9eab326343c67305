"""What the host reads from a problem file without running it: structure, request, backends.

The reference is only ever executed inside the sandbox; here it is parsed, so an unreadable or
incomplete file is refused in milliseconds with a message naming what is missing.
"""

from __future__ import annotations

import ast
from typing import Any

REQUIRED_FUNCTIONS = ("get_inputs", "get_init_inputs")
DEFAULT_BACKENDS = ("triton", "cuda")


def structure_error(text: str, path: str) -> str | None:
    """Why `text` is not a KernelBench problem, or None when it looks like one."""
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as exc:
        return f"problem {path}:{exc.lineno}: syntax error: {exc.msg}"
    names = {node.name for node in tree.body
             if isinstance(node, ast.ClassDef | ast.FunctionDef)}
    missing = [] if "Model" in names else ["class Model"]
    missing += [f"function {name}()" for name in REQUIRED_FUNCTIONS if name not in names]
    if missing:
        return f"problem {path} is missing {', '.join(missing)} (KernelBench format)"
    return None


def metadata(text: str) -> dict[str, Any]:
    """The literal `KERNEL_AGENT` dict, or {} when absent or not a plain literal."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return {}
    for node in tree.body:
        targets = (node.targets if isinstance(node, ast.Assign) else
                   [node.target] if isinstance(node, ast.AnnAssign) and node.value else [])
        if any(isinstance(t, ast.Name) and t.id == "KERNEL_AGENT" for t in targets):
            try:
                value = ast.literal_eval(node.value)  # type: ignore[arg-type]
            except ValueError:
                return {}
            return value if isinstance(value, dict) else {}
    return {}


def request_of(text: str) -> str:
    request = metadata(text).get("request")
    return request if isinstance(request, str) else ""


def backends_of(text: str) -> tuple[str, ...]:
    backends = metadata(text).get("backends", DEFAULT_BACKENDS)
    if isinstance(backends, str):
        return (backends,)
    return tuple(backends) if backends else DEFAULT_BACKENDS
