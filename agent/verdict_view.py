"""Rich rendering of a verdict for people at a terminal (the model reads `Verdict.summary()`)."""

from __future__ import annotations

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from kernel_agent.tools.verdict import Verdict

STATUS_STYLE = {"pass": "bold green", "fail": "bold red", "bad_input": "bold yellow"}


def render_verdict(verdict: Verdict, title: str) -> Panel:
    parts: list[object] = [Text.assemble(
        (verdict.status.upper().replace("_", " "), STATUS_STYLE[verdict.status]),
        f"  stage: {verdict.stage}  device: {verdict.device.get('name', '?')}  "
        f"({verdict.elapsed_s:.1f} s)")]
    if verdict.error:
        where = f"{verdict.error.file}:{verdict.error.line}" if verdict.error.line else (
            verdict.error.file or "")
        parts.append(Text(f"{verdict.error.kind} {where}\n{verdict.error.message}", style="red"))
        if verdict.error.excerpt:
            parts.append(Text(verdict.error.excerpt, style="dim"))
    if verdict.trials:
        parts.append(trials_table(verdict))
    for flag in verdict.flags:
        style = "red" if flag.severity == "reject" else "yellow"
        parts.append(Text(f"flag {flag.name} ({flag.severity}): {flag.reason}", style=style))
    if verdict.timing:
        parts.append(timing_table(verdict))
    for what, why in verdict.not_measured.items():
        parts.append(Text(f"not measured: {what}: {why}", style="dim"))
    return Panel(Group(*parts), title=title, expand=False)


def trials_table(verdict: Verdict) -> Table:
    table = Table("trial", "seed", "ok", "max abs err", "max rel err", "mismatched", "worst index",
                  title=f"correctness (atol {verdict.tolerance.get('atol')}, "
                        f"rtol {verdict.tolerance.get('rtol')})")
    for number, trial in enumerate(verdict.trials):
        table.add_row(str(number), str(trial.seed), "yes" if trial.passed else "[red]no[/]",
                      f"{trial.max_abs_error:.3g}", f"{trial.max_rel_error:.3g}",
                      f"{trial.mismatched}/{trial.elements}", str(trial.worst_index))
    return table


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
