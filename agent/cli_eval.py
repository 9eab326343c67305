"""`kernel-agent eval ...`: KernelBench-format evaluation runs and their reports.

    kernel-agent eval SUITE [--level 1] [--problems 1-20,35] [--budget 10m] [--branches K]
                      [--candidates DIR] [--gpus 0,1,...|cpu] [--workers N] [--out DIR]
                      [--resume] [--ray [ADDRESS]]
    kernel-agent eval report RUN_DIR

Click reads the first word after `eval` as a sub-command name, so `eval` is a group whose class
falls back to its `run` command when that word is not a sub-command: `eval SUITE ...` is
`eval run SUITE ...`. A suite folder literally named `run` or `report` is given as `./run`.
Typer has no option with an optional value, so the group gives a bare `--ray` the value "".
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kernel_agent.agent.cli_style import App, Group

EXIT_DONE, EXIT_BAD_INPUT, EXIT_UNMATCHED, EXIT_INTERRUPTED = 0, 2, 3, 130


class RunByDefault(Group):
    """A group that treats an unknown first word as the first argument of `run`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["run", *args]
        if "--ray" in args:
            at = args.index("--ray") + 1
            if at == len(args) or args[at].startswith("-"):
                args = [*args[:at], "", *args[at:]]
        return super().parse_args(ctx, args)


eval_app = App(
    cls=RunByDefault, no_args_is_help=True,
    help="Evaluate the agent or existing kernels on a KernelBench-format suite. "
         "`kernel-agent eval SUITE ...` runs (see `eval run --help`); "
         "`kernel-agent eval report RUN_DIR` rebuilds a run's report.")

CANDIDATES_HELP = ("evaluate-only: a folder with one solution per problem (the layouts it may "
                   "have are listed above); without it the agent generates")


@eval_app.command()
def run(
    suite: Annotated[str, typer.Argument(
        help="a KernelBench checkout (or its KernelBench/ or levelN/ folder), any folder of "
             "problem files, or 'examples' (the built-in suite)")],
    level: Annotated[list[int] | None, typer.Option(
        help="only this level (repeatable)")] = None,
    problems: Annotated[str | None, typer.Option(
        help="problem numbers, e.g. 1-20,35")] = None,
    candidates: Annotated[Path | None, typer.Option(help=CANDIDATES_HELP)] = None,
    budget: Annotated[str, typer.Option(
        help="generate: wall-clock budget per problem, e.g. 10m, 90s, 1h")] = "15m",
    branches: Annotated[int, typer.Option(help="generate: parallel branches per problem")] = 4,
    rounds: Annotated[int | None, typer.Option(
        help="generate: at most this many rounds per problem")] = None,
    gpus: Annotated[str | None, typer.Option(
        help="GPU indices to spread problems over, one worker per entry, e.g. 0,1; an index "
             "named more than once gets that many workers sharing it (0,0,0: three workers "
             "on GPU 0, which rehearses a multi-GPU run but shares its timings); 'cpu' for none",
        show_default="all found")] = None,
    workers: Annotated[int, typer.Option(
        min=1, help="parallel problems when no GPU is used (--gpus cpu, or none found)")] = 1,
    out: Annotated[Path | None, typer.Option(
        show_default="a new folder in eval-runs/", help="run directory")] = None,
    resume: Annotated[bool, typer.Option(
        help="continue the run in --out; finished problems are not run again")] = False,
    timeout: Annotated[float | None, typer.Option(
        show_default="from each problem's reference",
        help="seconds allowed per verification: a compile allowance plus ten times the "
             "reference's own run, at most 600")] = None,
    profile: Annotated[str | None, typer.Option(help="generate: model profile")] = None,
    model: Annotated[str | None, typer.Option(help="generate: model name")] = None,
    base_url: Annotated[str | None, typer.Option(
        help="generate: OpenAI-compatible endpoint")] = None,
    memory: Annotated[bool, typer.Option(
        help="generate: start from kernels remembered for a problem (re-verified here); "
             "--no-memory measures the agent from scratch")] = True,
    ray: Annotated[str | None, typer.Option(
        metavar="[ADDRESS]",
        help="run each problem as a Ray task (one GPU each; one CPU on a cluster without "
             "GPUs) on the cluster at ADDRESS; without one, RAY_ADDRESS or a new local "
             "cluster. Needs pip install 'kernel-agent\\[ray]'")] = None,
) -> None:
    """Run SUITE: evaluate-only with --candidates, else generate-and-evaluate with the agent.

    \b
    --candidates DIR holds one solution per problem, found as any of
      DIR/levelL/<id>_<name>.py
      DIR/levelL/<id>_<name>/kernel.py
      DIR/level_L_problem_<id>_sample_0_kernel.py
      DIR/<id>_<name>.py
      DIR/<id>_<name>/kernel.py

    Results go to OUT/results.sqlite as they come (a killed run continues with --resume), and
    the report (report.md, report.html, report.json, problems.csv, attempts.csv, figures/) is
    written at the end. Exit status: 0 done, 2 bad input, 3 done but some problem had no
    candidate while files in --candidates matched no problem (a layout mistake, named in
    the summary), 130 interrupted.
    """
    from kernel_agent.evals.launch import EvalOptions, launch
    from kernel_agent.evals.options import parse_duration, parse_gpus
    from kernel_agent.evals.progress import RichProgress
    from kernel_agent.evals.runner import RunError
    from kernel_agent.evals.suites import SuiteError
    from kernel_agent.sandbox.gpus import discover_gpus

    console = Console()
    mode = "evaluate" if candidates is not None else "generate"
    if out is None:
        if resume:
            bad_input("--resume needs --out RUN_DIR: the run to continue")
        out = Path("eval-runs") / f"{Path(suite).name}-{mode}-{time.strftime('%Y%m%d-%H%M%S')}"
    errors: tuple[type[Exception], ...] = (SuiteError, RunError, ValueError, FileNotFoundError)
    config = None
    if candidates is None:  # only generate-and-evaluate pays for importing the model stack
        from kernel_agent.agent.models import NoEndpointConfigured, resolve_config

        errors += (NoEndpointConfigured,)
    try:
        if candidates is None:
            config = resolve_config(profile, {"model": model, "base_url": base_url})
        options = EvalOptions(
            suite=suite, out=out, levels=level or [], problems=problems, candidates=candidates,
            model=config, budget_minutes=parse_duration(budget), branches=branches,
            rounds=rounds, gpus=parse_gpus(gpus, discover_gpus()), cpu_workers=workers,
            timeout_s=timeout, resume=resume, memory=memory, ray=ray)
        where = (f"the Ray cluster {ray or '(RAY_ADDRESS, else a new local one)'}"
                 if ray is not None else describe_gpus(options.gpus) if options.gpus
                 else f"CPU, Triton interpreter, {workers} worker(s)")
        console.print(f"eval {suite} ({mode}) on {where} -> {out}")
        paths = launch(options, RichProgress(console))
    except errors as exc:
        bad_input(str(exc))
    except KeyboardInterrupt:
        Console(stderr=True).print(f"interrupted; continue with --resume --out {out}")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    raise typer.Exit(show(paths, console))


@eval_app.command()
def report(run_dir: Annotated[Path, typer.Argument(help="an eval run's directory")]) -> None:
    """Rebuild a run's report from RUN_DIR/results.sqlite (a finished, running or killed run)."""
    from kernel_agent.evals.report import write_report

    try:
        paths = write_report(run_dir)
    except FileNotFoundError as exc:
        bad_input(str(exc))
    show(paths, Console())


def describe_gpus(gpus: list[int]) -> str:
    """`GPU 0, GPU 1`, or `GPU 0 (3 workers)` for a GPU listed more than once."""
    return ", ".join(f"GPU {g}" + (f" ({gpus.count(g)} workers)" if gpus.count(g) > 1 else "")
                     for g in sorted(set(gpus)))


def bad_input(message: str) -> None:
    Console(stderr=True, soft_wrap=True).print(f"[bold yellow]bad input:[/] {escape(message)}")
    raise typer.Exit(EXIT_BAD_INPUT)


def summary_line(data: dict[str, Any]) -> str:
    """`suite: F of N problems finished (B bad input)`: every file of the suite is in N."""
    run, bad = data["run"], data["headline"]["bad_input"]
    return (f"{run['suite']}: {run['finished']} of {run['problems']} problems finished"
            + (f" ({bad} bad input, not counted)" if bad else ""))


def show(paths: dict[str, Path], console: Console) -> int:
    """The headline table, what matched nothing, then where the report files are; the exit
    status the run earns."""
    from kernel_agent.evals.render import headline_rows

    data: dict[str, Any] = json.loads(paths["json"].read_text())
    groups = [data["headline"], *data["levels"].values()]
    table = Table(title=summary_line(data))
    for column in ["metric", "all", *(f"level {k}" for k in data["levels"])]:
        table.add_column(column)
    for row in headline_rows(groups, data["run"]["mode"]):
        table.add_row(*row)
    console.print(table)
    timing = data["run"]["not_measured"].get("timing")
    if not data["headline"]["speed_measured"] and timing:
        console.print(f"speed not measured: {timing}", highlight=False)
    status = show_unmatched(data, console)
    console.print(f"report: {paths['markdown']}  {paths['html']}  {paths['json']}",
                  highlight=False)
    return status


def show_unmatched(data: dict[str, Any], console: Console) -> int:
    """Problems without a candidate and candidate files that matched no problem: together
    they are a layout mistake, said in bold and with exit status 3."""
    missing = [p["id"] for p in data["problems"] if p["outcome"] == "no_candidate"]
    unmatched = data["run"].get("unmatched_candidates") or []
    if missing:
        console.print(f"[bold yellow]no candidate[/] for {len(missing)} problem(s): "
                      f"{escape(', '.join(missing))} (the report says where each was looked for)",
                      highlight=False)
    if unmatched:
        style = "bold red" if missing else "yellow"
        console.print(f"[{style}]{len(unmatched)} file(s) in --candidates matched no "
                      f"problem:[/] {escape(', '.join(unmatched))}", highlight=False)
    return EXIT_UNMATCHED if missing and unmatched else EXIT_DONE
