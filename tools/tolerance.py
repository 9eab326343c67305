"""The absolute tolerance a candidate's outputs are judged with, output by output.

One value serves every output, except outputs that a trivial output (zeros, a constant) would
pass against: those are judged tighter, by rtol times their own RMS (tools/trivial.py). Judging
every output with the tightest of those would fail a right kernel on its other outputs, whose
rounding errors near zero the problem's atol is there to allow.

Where it travels as JSON (a verdict's "tolerance", the re-timing's check request) it is the
plain atol, plus {"atol_by_output": {index: atol}} for the outputs judged tighter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PerOutputAtol:
    """`base` for every output but those in `tighter` (output index -> its atol)."""

    base: float
    tighter: Mapping[int, float]

    def of(self, output: int) -> float:
        return self.tighter.get(output, self.base)


Atol = float | PerOutputAtol


def atol_of(atol: Atol, output: int) -> float:
    """The absolute tolerance of output number `output`."""
    return atol.of(output) if isinstance(atol, PerOutputAtol) else atol


def base_atol(atol: Atol) -> float:
    """The atol of the outputs judged as the problem says (all of them, for a plain value)."""
    return atol.base if isinstance(atol, PerOutputAtol) else atol


def describe(atol: Atol) -> str:
    """For a person: the atol, and the first few outputs judged tighter."""
    if not isinstance(atol, PerOutputAtol):
        return f"{atol:.3g}"
    shown = ", ".join(f"output {i}: {value:.3g}" for i, value in list(atol.tighter.items())[:3])
    more = f" and {len(atol.tighter) - 3} more" if len(atol.tighter) > 3 else ""
    return f"{atol.base:.3g} ({shown}{more})"


def to_json(atol: Atol) -> dict[str, Any]:
    """{"atol": ...} and, for outputs judged tighter, {"atol_by_output": {"index": atol}}."""
    if not isinstance(atol, PerOutputAtol):
        return {"atol": atol}
    return {"atol": atol.base,
            "atol_by_output": {str(i): value for i, value in atol.tighter.items()}}


def from_json(record: Mapping[str, Any]) -> Atol:
    """The tolerance `to_json` wrote (ValueError or TypeError for anything else)."""
    base = float(record["atol"])
    tighter = record.get("atol_by_output")
    if not tighter:
        return base
    return PerOutputAtol(base, {int(i): float(v) for i, v in tighter.items()})
