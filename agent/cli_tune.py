"""`kernel-agent tune PROBLEM.py CANDIDATE.py`: tune a kernel's launch parameters.

    kernel-agent tune PROBLEM.py CANDIDATE.py [--max-variants N] [--out FILE]
                      [--sandbox local|docker] [--json]

Every variant is verified in full; on a GPU the fastest correct variant is then re-timed
interleaved with the original in one process and written to --out (default CANDIDATE.tuned.py)
only if its median is faster by more than the spread of either kernel's per-round medians
(tools/tune_compare.py). Without a GPU the variants are checked for correctness only and nothing
is written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from kernel_agent.agent.cli_style import SandboxName

if TYPE_CHECKING:
    from kernel_agent.tools.tuning import TuneResult

EXIT_DONE, EXIT_ORIGINAL_FAILS, EXIT_BAD_INPUT = 0, 1, 2
STATUS_STYLE = {"pass": "green", "fail": "red", "bad_input": "yellow", "skipped": "dim",
                "not_run": "dim"}


def tune_command(
    problem: Annotated[Path, typer.Argument(help="reference problem file (class Model)")],
    candidate: Annotated[Path, typer.Argument(help="candidate file (class ModelNew)")],
    max_variants: Annotated[int, typer.Option(
        min=1, help="at most this many variants are verified")] = 24,
    out: Annotated[Path | None, typer.Option(
        show_default="CANDIDATE.tuned.py", help="where the tuned kernel goes")] = None,
    sandbox: Annotated[SandboxName, typer.Option(help="where the variants run")] = "local",
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
    workers: Annotated[int, typer.Option(
        min=1, help="variants verified at once without a GPU (local sandbox)")] = 2,
    timeout: Annotated[float | None, typer.Option(
        show_default="from the reference's run time",
        help="wall-clock limit per verification in seconds")] = None,
) -> None:
    """Tune CANDIDATE's block sizes, num_warps, num_stages, switches such as WARP_SPECIALIZE and
    autotune configs on PROBLEM.

    Exit status: 0 tuned (or nothing better found), 1 the original fails verification,
    2 bad input.
    """
    from kernel_agent.sandbox import Limits, get_sandbox
    from kernel_agent.tools.check import BadInput, read_source
    from kernel_agent.tools.tune_space import TuneSpaceError, find_space
    from kernel_agent.tools.tuning import tune_sources

    errors = Console(stderr=True, soft_wrap=True)
    try:  # bad input is told before any sandbox starts
        sources = read_source(problem, "problem"), read_source(candidate, "candidate")
        tunable = find_space(sources[1]["text"], sources[1]["path"]).parameters
        options = {"cpu_workers": workers} if sandbox == "local" else {}
        runner = get_sandbox(sandbox, **options) if tunable else None
    except (BadInput, TuneSpaceError, ValueError) as exc:
        errors.print(f"[bold yellow]bad input:[/] {escape(str(exc))}")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    progress = None if as_json else (
        lambda row: errors.print(f"verified {row.describe()}: {row.status}", style="dim",
                                 markup=False))
    try:
        result = tune_sources(*sources, sandbox=runner,
                              limits=Limits(wall_s=timeout) if timeout else None,
                              max_variants=max_variants, workers=workers, progress=progress)
    finally:
        if runner is not None:
            runner.close()
    written = None
    if result.improved:
        written = out or candidate.with_suffix(".tuned.py")
        written.write_text(result.best)
    if as_json:
        print(json.dumps({**result.to_dict(), "written": str(written) if written else None},
                         indent=2))
    else:
        show(result, candidate, written)
    failed = result.variants[0].status not in ("pass", "not_run")
    raise typer.Exit(EXIT_ORIGINAL_FAILS if failed else EXIT_DONE)


def show(result: TuneResult, candidate: Path, written: Path | None) -> None:
    """The parameters found, the variants' table, the choice and where it went."""
    console = Console()
    for parameter in result.parameters:
        console.print(f"parameter {parameter['name']} (line {parameter['line']}): "
                      f"{parameter['current']}; tries {', '.join(parameter['choices'])}",
                      markup=False)
    for note in result.notes:
        console.print(f"note: {note}", style="dim", markup=False)
    where = f" on {result.device}" if result.device else ""
    table = Table(title=f"{candidate}: {len(result.variants) - 1} variants{where}")
    for column in ("#", "variant", "status", "median ms", "IQR ms", "reason"):
        table.add_column(column)
    for row in result.variants:
        table.add_row(f"{row.number}{' *' if row.number == result.chosen else ''}",
                      Text(row.describe()), Text(row.status, STATUS_STYLE.get(row.status, "")),
                      _ms(row.median_ms), _ms(row.iqr_ms), Text(row.reason))
    console.print(table)
    comparison = result.comparison
    if comparison is not None and comparison.measured:
        on = f" on {comparison.device}" if comparison.device else ""
        console.print(f"re-timed interleaved, {comparison.rounds} rounds{on}:", markup=False)
        retimed = Table()
        for column in ("kernel", "median ms", "spread ms"):
            retimed.add_column(column)
        retimed.add_row("original", _ms(comparison.original_ms),
                        _ms(comparison.original_spread_ms))
        retimed.add_row(f"variant {result.finalist}", _ms(comparison.variant_ms),
                        _ms(comparison.variant_spread_ms))
        console.print(retimed)
    console.print(result.reason, markup=False)
    if written is not None:
        console.print(f"wrote the tuned kernel to {written}", style="bold green", markup=False)
    else:
        console.print("nothing written: the original is kept")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"
