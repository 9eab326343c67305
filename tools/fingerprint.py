"""A problem's identity for kernel memory, and the family key that finds similar problems.

Identity: the reference source parsed and unparsed (comments, docstrings and layout gone, and the
prose keys `request` and `name` removed from `KERNEL_AGENT`, since they describe the problem and
compute nothing; tolerance, dtype and the rest stay), plus the input signature that
`kernel_agent.tools.signature` computes in the sandbox on the meta device. When the signature
cannot be had, the source alone is the identity and the fingerprint says why.

Family: the operations the reference's forward performs (torch functions, tensor methods, Python
operators and the nn modules the model holds, lower-cased, in-place `_` dropped) and the rank of
each input, written `add+mul|2,1`. Problems of one family are worth showing each other's kernels.

This module never imports torch; only the sandbox task does.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from kernel_agent.sandbox import Limits, Sandbox

FINGERPRINT_VERSION = "fp1"
SIGNATURE_TASK = "kernel_agent.tools.signature:run"
SIGNATURE_WALL_S = 120.0
PROSE_KEYS = frozenset({"request", "name"})
NAME_CHARS = 60
# Calls that ask about a tensor, move it or cast it rather than compute with it.
NOT_OPS = frozenset({"size", "dim", "numel", "stride", "contiguous", "is_contiguous", "to",
                     "type_as", "float", "half", "bfloat16", "double", "super"})
# Capitalised constructors in __init__ that hold modules or data rather than compute.
NOT_MODULES = frozenset({"sequential", "modulelist", "moduledict", "parameter", "parameterlist",
                         "parameterdict", "tensor"})
OPERATORS: dict[type, str] = {
    ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.FloorDiv: "floordiv",
    ast.Mod: "remainder", ast.Pow: "pow", ast.MatMult: "matmul", ast.BitAnd: "bitwise_and",
    ast.BitOr: "bitwise_or", ast.BitXor: "bitwise_xor", ast.LShift: "bitwise_left_shift",
    ast.RShift: "bitwise_right_shift", ast.USub: "neg", ast.Invert: "bitwise_not",
    ast.Gt: "gt", ast.Lt: "lt", ast.GtE: "ge", ast.LtE: "le", ast.Eq: "eq", ast.NotEq: "ne",
}


class FingerprintError(ValueError):
    """A problem source that cannot be fingerprinted (it does not parse, or has no Model)."""


@dataclass(frozen=True)
class Fingerprint:
    """What identifies a problem, and how: `basis` is "source+inputs" or "source" (see `note`)."""

    digest: str
    family: str
    signature: dict[str, Any] | None
    note: str = ""

    @property
    def basis(self) -> str:
        return "source" if self.signature is None else "source+inputs"


def fingerprint_problem(text: str, sandbox: Sandbox) -> Fingerprint:
    """The fingerprint of a problem source, its signature computed in `sandbox`."""
    normalized, ops = normalize_source(text), forward_ops(text)  # bad sources fail before the run
    signature, note = input_signature(text, sandbox)
    return combine(normalized, ops, signature, note)


def combine(normalized: str, ops: tuple[str, ...], signature: dict[str, Any] | None,
            note: str) -> Fingerprint:
    """Digest and family from their parts; a None signature leaves the source alone."""
    identity = normalized + "\n# inputs: " + (
        json.dumps(signature, sort_keys=True) if signature is not None else "unknown")
    digest = f"{FINGERPRINT_VERSION}-{hashlib.sha256(identity.encode()).hexdigest()}"
    return Fingerprint(digest, family_key(ops, signature), signature, note)


def input_signature(text: str, sandbox: Sandbox) -> tuple[dict[str, Any] | None, str]:
    """(signature, "") from the sandbox task, or (None, why it could not be computed)."""
    result = sandbox.run(SIGNATURE_TASK, {"problem": {"text": text, "path": "problem.py"}},
                         Limits(wall_s=SIGNATURE_WALL_S))
    if result.failure is not None:
        return None, (f"input signature not computed ({result.failure.kind}: "
                      f"{result.failure.message}); the source alone identifies the problem")
    assert result.value is not None
    if result.value["signature"] is None:
        return None, (f"input signature not computed on the meta device "
                      f"({result.value['reason']}); the source alone identifies the problem")
    return result.value["signature"], ""


def parse(text: str) -> ast.Module:
    try:
        return ast.parse(text)
    except SyntaxError as exc:
        raise FingerprintError(f"problem source does not parse: line {exc.lineno}: "
                               f"{exc.msg}") from None


def normalize_source(text: str) -> str:
    """The source as the AST sees it: no comments, docstrings, layout or prose metadata."""
    tree = parse(text)
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            strip_docstring(node)
    for node in tree.body:
        metadata = metadata_dict(node)
        if metadata is not None:
            kept = [(k, v) for k, v in zip(metadata.keys, metadata.values, strict=True)
                    if not (isinstance(k, ast.Constant) and k.value in PROSE_KEYS)]
            metadata.keys = [k for k, _ in kept]
            metadata.values = [v for _, v in kept]
    return ast.unparse(tree)


def strip_docstring(node: ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
                    ) -> None:
    body = node.body
    if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)):
        node.body = body[1:] or [ast.Pass()]


def metadata_dict(node: ast.stmt) -> ast.Dict | None:
    """The literal dict of a module-level `KERNEL_AGENT = {...}`, if `node` is that assignment."""
    targets = (node.targets if isinstance(node, ast.Assign) else
               [node.target] if isinstance(node, ast.AnnAssign) else [])
    value = getattr(node, "value", None)
    if isinstance(value, ast.Dict) and any(
            isinstance(t, ast.Name) and t.id == "KERNEL_AGENT" for t in targets):
        return value
    return None


def problem_name(text: str) -> str | None:
    """What the problem calls itself: `KERNEL_AGENT["name"]` as a plain string, else the first
    line of its module docstring (shortened), else None."""
    tree = parse(text)
    for node in tree.body:
        metadata = metadata_dict(node)
        if metadata is None:
            continue
        for key, value in zip(metadata.keys, metadata.values, strict=True):
            if (isinstance(key, ast.Constant) and key.value == "name"
                    and isinstance(value, ast.Constant) and isinstance(value.value, str)):
                return value.value
    lines = (ast.get_docstring(tree) or "").strip().splitlines()
    if not lines:
        return None
    first = lines[0].strip()
    return first if len(first) <= NAME_CHARS else first[:NAME_CHARS - 3].rstrip() + "..."


def family_key(ops: tuple[str, ...], signature: dict[str, Any] | None) -> str:
    """`op+op|rank,rank`: the forward's operations and each input's rank (`s` a scalar)."""
    if signature is None:
        ranks = "?"
    else:
        ranks = ",".join(str(len(i["shape"])) if "shape" in i else "s"
                         for i in signature["inputs"])
    return f"{'+'.join(ops) or '-'}|{ranks}"


def forward_ops(text: str) -> tuple[str, ...]:
    """Sorted names of what Model.forward computes with, following its helpers."""
    tree = parse(text)
    model = next((n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Model"), None)
    if model is None:
        raise FingerprintError("problem source has no class Model")
    methods = {n.name: n for n in model.body if isinstance(n, ast.FunctionDef)}
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    if "forward" not in methods:
        raise FingerprintError("class Model has no forward method")
    ops = held_modules(methods.get("__init__"))
    ops |= OpCollector(methods, functions).collect(methods["forward"])
    return tuple(sorted(ops))


def held_modules(init: ast.FunctionDef | None) -> set[str]:
    """The nn module classes that __init__ builds (containers and parameters aside)."""
    if init is None:
        return set()
    names = set()
    for node in ast.walk(init):
        if isinstance(node, ast.Call):
            name = called_name(node)
            if name and name[0].isupper() and name.lower() not in NOT_MODULES:
                names.add(name.lower())
    return names


def called_name(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


class OpCollector:
    """Walks forward and, through calls, the Model methods and module functions it uses."""

    def __init__(self, methods: dict[str, ast.FunctionDef],
                 functions: dict[str, ast.FunctionDef]) -> None:
        self.methods, self.functions = methods, functions
        self.seen: set[tuple[bool, str]] = set()

    def collect(self, function: ast.FunctionDef) -> set[str]:
        ops: set[str] = set()
        for node in ast.walk(function):
            if isinstance(node, ast.UnaryOp) and isinstance(node.operand, ast.Constant):
                continue  # a literal such as dim=-1
            if isinstance(node, ast.BinOp | ast.UnaryOp) and type(node.op) in OPERATORS:
                ops.add(OPERATORS[type(node.op)])
            elif isinstance(node, ast.Compare):
                ops.update(OPERATORS[type(op)] for op in node.ops if type(op) in OPERATORS)
            elif isinstance(node, ast.Call):
                ops |= self.call(node)
        return ops

    def call(self, node: ast.Call) -> set[str]:
        func = node.func
        is_self = (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                   and func.value.id == "self")
        name = called_name(node)
        if name is None:
            return set()
        helper = (self.methods.get(name) if is_self else
                  self.functions.get(name) if isinstance(func, ast.Name) else None)
        if helper is not None:
            if (is_self, name) in self.seen:
                return set()
            self.seen.add((is_self, name))
            return self.collect(helper)
        if is_self or name in NOT_OPS or (isinstance(func, ast.Name) and hasattr(builtins, name)):
            return set()  # a held module (counted from __init__), a query, or a Python builtin
        return {name.lower().rstrip("_") or name}
