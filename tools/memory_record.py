"""One remembered kernel as a record: built from a verdict, or read back from an export line.

A record holds the facts worth keeping (the problem and its input signature, the kernel's source,
its verdict, where and with what it was verified) and derives the rest (fingerprint and family,
backend, speedups, GPU) the same way on every path in, so an imported kernel is found exactly as
one remembered here would be.
"""

from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kernel_agent.tools.fingerprint import (
    Fingerprint,
    FingerprintError,
    combine,
    forward_ops,
    normalize_source,
)
from kernel_agent.tools.verdict import Verdict

EXPORT_FORMAT = 1
# Export fields and their JSON types; the rest of a record is derived from these.
LINE_FIELDS: dict[str, tuple[type, ...]] = {
    "format": (int,), "problem_name": (str,), "problem_source": (str,),
    "signature": (dict, type(None)), "source": (str,), "verdict": (dict,),
    "versions": (dict,), "created": (str,),
}


class RecordError(ValueError):
    """A kernel that cannot be remembered: the message says which part is wrong."""


@dataclass(frozen=True)
class MemoryEntry:
    """A verified kernel as kernel memory keeps it (`id` is 0 until it is stored)."""

    fingerprint: str
    family: str
    problem_name: str
    problem_source: str
    signature: dict[str, Any] | None
    backend: str
    source: str
    verdict: dict[str, Any]
    speedup_eager: float | None
    speedup_compiled: float | None
    gpu: str
    versions: dict[str, str | None]
    created: str
    origin: str
    id: int = 0
    source_sha256: str = field(default="", repr=False)

    def to_line(self) -> dict[str, Any]:
        """The export form: the kept facts, tagged with the format version. `origin` stays out:
        it says how a kernel came into one memory, and the importing memory sets its own."""
        return {"format": EXPORT_FORMAT, **{k: getattr(self, k) for k in LINE_FIELDS
                                            if k != "format"}}

    @property
    def verdict_summary(self) -> str:
        return Verdict.from_dict(self.verdict).summary()


def build_entry(problem_source: str, fingerprint: Fingerprint, candidate_source: str,
                verdict: dict[str, Any], *, name: str, versions: dict[str, str | None],
                created: str, origin: str) -> MemoryEntry:
    """Check that `verdict` is a passing verifier verdict and derive the entry's other columns."""
    if not origin:
        raise RecordError("origin must say where the kernel came from (a run dir, seed, import)")
    checked = passing_verdict(verdict)
    timing = checked.timing
    device = checked.device
    return MemoryEntry(
        fingerprint=fingerprint.digest, family=fingerprint.family, problem_name=name,
        problem_source=problem_source, signature=fingerprint.signature,
        backend=detect_backend(candidate_source), source=candidate_source, verdict=verdict,
        speedup_eager=timing.speedup_eager if timing else None,
        speedup_compiled=timing.speedup_compiled if timing else None,
        gpu=str(device.get("name")) if device.get("type") == "cuda" else "cpu",
        versions=versions, created=created, origin=origin,
        source_sha256=hashlib.sha256(candidate_source.encode()).hexdigest())


def passing_verdict(verdict: dict[str, Any]) -> Verdict:
    try:
        checked = Verdict.from_dict(verdict)
    except (TypeError, ValueError) as exc:
        raise RecordError(f"verdict is not a verifier verdict: {exc}") from None
    if checked.status != "pass":
        raise RecordError(f"only passing kernels are remembered; verdict status is "
                          f"{checked.status!r}")
    return checked


def detect_backend(source: str) -> str:
    """`cuda` when the kernel is built through torch.utils.cpp_extension, else `triton` when it
    imports triton, else `other`."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise RecordError(f"kernel source does not parse: line {exc.lineno}: {exc.msg}") from None
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
    if names & {"load_inline", "cpp_extension", "torch.utils.cpp_extension"}:
        return "cuda"
    if any(name == "triton" or name.startswith("triton.") for name in names):
        return "triton"
    return "other"


def entry_from_line(raw: bytes, origin: str) -> MemoryEntry:
    """Parse and check one export line; RecordError says what is wrong with it."""
    try:
        data = json.loads(raw.decode())
    except UnicodeDecodeError as exc:
        raise RecordError(f"not UTF-8 text: {exc.reason}") from None
    except json.JSONDecodeError as exc:
        raise RecordError(f"not JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(data, dict):
        raise RecordError(f"not a JSON object but a {type(data).__name__}")
    if data.get("format") != EXPORT_FORMAT:
        raise RecordError(f"format {data.get('format')!r} is not {EXPORT_FORMAT} "
                          "(a kernel-agent memory export line)")
    missing = [key for key in LINE_FIELDS if key not in data]
    if missing:
        raise RecordError(f"missing field(s) {', '.join(missing)}")
    for key, types in LINE_FIELDS.items():
        if not isinstance(data[key], types) or isinstance(data[key], bool):
            raise RecordError(f"field {key} must be {' or '.join(t.__name__ for t in types)}, "
                              f"not {type(data[key]).__name__}")
    try:
        datetime.fromisoformat(data["created"])
    except ValueError:
        raise RecordError(f"created {data['created']!r} is not an ISO date") from None
    signature = data["signature"]
    if signature is not None and not valid_signature(signature):
        raise RecordError("signature must hold a list of inputs, each a JSON object")
    try:
        fingerprint = combine(normalize_source(data["problem_source"]),
                              forward_ops(data["problem_source"]), signature, "")
    except FingerprintError as exc:
        raise RecordError(str(exc)) from None
    return build_entry(data["problem_source"], fingerprint, data["source"], data["verdict"],
                       name=data["problem_name"], versions=data["versions"],
                       created=data["created"], origin=origin)


def valid_signature(signature: dict[str, Any]) -> bool:
    inputs = signature.get("inputs")
    return isinstance(inputs, list) and all(isinstance(i, dict) for i in inputs)
