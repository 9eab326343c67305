"""Rich rendering of a verdict for people at a terminal (the model reads `Verdict.summary()`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from kernel_agent.tools import tolerance
from kernel_agent.tools.verdict import Trial, Verdict

STATUS_STYLE = {"pass": "bold green", "fail": "bold red", "bad_input": "bold yellow"}


def render_verdict(verdict: Verdict, candidate: Path, problem: Path) -> Panel:
    """The verdict in a panel titled by the two files' names; their paths, which may be longer
    than the terminal is wide, are the panel's first lines (a title would be cut)."""
    parts: list[object] = [
        Text.assemble(("candidate ", "dim"), str(candidate), ("\nproblem   ", "dim"),
                      str(problem)),
        Text.assemble(
            (verdict.status.upper().replace("_", " "), STATUS_STYLE[verdict.status]),
            f"  stage: {verdict.stage}  device: {verdict.device.get('name', '?')}  "
            f"({verdict.elapsed_s:.1f} s)")]
    if verdict.error:
        parts.extend(error_parts(verdict))
    if verdict.trials:
        parts.append(trials_table(verdict))
        parts.extend(Text(line, style="red") for line in wrong_elements(verdict.trials))
    for flag in verdict.flags:
        style = "red" if flag.severity == "reject" else "yellow"
        parts.append(Text(f"flag {flag.name} ({flag.severity}): {flag.reason}", style=style))
    if verdict.timing:
        parts.append(timing_table(verdict))
    if line := verdict.audit_line():
        parts.append(Text(line))
    for what, why in verdict.not_measured.items():
        parts.append(Text(f"not measured: {what}: {why}", style="dim"))
    return Panel(Group(*parts), title=f"{candidate.name} vs {problem.name}", expand=False)


def error_parts(verdict: Verdict) -> list[Text]:
    """The error's kind and place once (a message that names the place already is not
    prefixed with it again), then the lines of source around it."""
    error = verdict.error
    assert error is not None
    where = f"{error.file}:{error.line}" if error.line else (error.file or "")
    headline = error.kind if not where or where in error.message else f"{error.kind} {where}"
    parts = [Text(f"{headline}: {error.message}", style="red")]
    if error.excerpt:  # source lines: cut at the edge rather than wrapped under the numbers
        parts.append(Text(error.excerpt, style="dim", no_wrap=True, overflow="ellipsis"))
    return parts


def atol_text(record: dict[str, Any]) -> str:
    """The verdict's atol, with the outputs judged tighter (tools/tolerance.py)."""
    try:
        return tolerance.describe(tolerance.from_json(record))
    except (KeyError, TypeError, ValueError):
        return str(record.get("atol"))


def trials_table(verdict: Verdict) -> Table:
    table = Table("trial", "seed", "ok", "max abs err", "max rel err", "mismatched", "worst index",
                  title=f"correctness (atol {atol_text(verdict.tolerance)}, "
                        f"rtol {verdict.tolerance.get('rtol')})")
    for number, trial in enumerate(verdict.trials):
        table.add_row(str(number), str(trial.seed), "yes" if trial.passed else "[red]no[/]",
                      f"{trial.max_abs_error:.3g}", f"{trial.max_rel_error:.3g}",
                      f"{trial.mismatched}/{trial.elements}", str(trial.worst_index))
    return table


def wrong_elements(trials: list[Trial]) -> list[str]:
    """Where the wrong elements are: the first wrong index and the region they span, one line
    for the trials that agree (a masking bug is wrong in the same place every time)."""
    by_place: dict[str, list[int]] = {}
    for number, trial in enumerate(trials):
        if trial.passed or trial.first_bad_index is None:
            continue
        place = f"first wrong index {trial.first_bad_index}"
        if trial.bad_region and trial.bad_output_shape is not None:
            place += f"; wrong elements in {region_text(trial.bad_region, trial.bad_output_shape)}"
        if trial.nonfinite:
            place += f"; {trial.nonfinite} NaN/Inf where the reference is finite"
        by_place.setdefault(place, []).append(number)
    return [f"{'trial' if len(numbers) == 1 else 'trials'} "
            f"{', '.join(map(str, numbers))}: {place}" for place, numbers in by_place.items()]


def region_text(region: list[list[int]], shape: list[int]) -> str:
    """`rows all 64, columns 1024 and up (of 2048)`: the span along each dimension in words."""
    names = {1: ["index"], 2: ["rows", "columns"]}.get(len(shape),
                                                       [f"dim {d}" for d in range(len(shape))])
    return ", ".join(f"{name} {span(low, high, size)}"
                     for name, (low, high), size in zip(names, region, shape, strict=True))


def span(low: int, high: int, size: int) -> str:
    if low == 0 and high == size - 1:
        return f"all {size}"
    if low == high:
        return f"{low} only (of {size})"
    if high == size - 1:
        return f"{low} and up (of {size})"
    return f"{low}-{high} (of {size})"


def timing_table(verdict: Verdict) -> Table:
    timing = verdict.timing
    assert timing is not None
    table = Table("", "median ms", "IQR ms", "runs", "speedup", title="timing (CUDA events)")
    table.add_row("candidate", f"{timing.candidate.median_ms:.4f}",
                  f"{timing.candidate.iqr_ms:.4f}", str(timing.candidate.n), "")
    for label, stats, speedup in (("eager", timing.eager, timing.speedup_eager),
                                  ("torch.compile", timing.compiled, timing.speedup_compiled)):
        if stats:
            table.add_row(label, f"{stats.median_ms:.4f}", f"{stats.iqr_ms:.4f}", str(stats.n),
                          f"{speedup:.2f}x" if speedup else "")
    if timing.compile_error:
        table.caption = timing.compile_error
    return table
