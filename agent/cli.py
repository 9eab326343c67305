"""The `kernel-agent` command line."""

from __future__ import annotations

import json
from importlib.metadata import version as installed_version
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from kernel_agent.agent.cli_chat import chat
from kernel_agent.agent.cli_eval import eval_app
from kernel_agent.agent.cli_mcp import serve_mcp
from kernel_agent.agent.cli_memory import memory_app
from kernel_agent.agent.cli_sandbox import sandbox_app
from kernel_agent.agent.cli_solve import solve
from kernel_agent.agent.cli_style import App, SandboxName
from kernel_agent.agent.cli_tune import tune_command
from kernel_agent.sandbox import Limits, one_shot_sandbox
from kernel_agent.tools.check import BadInput, check_files

app = App(add_completion=False, no_args_is_help=True,
          help="An agent that writes fast, correct GPU kernels.")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(eval_app, name="eval")
app.add_typer(memory_app, name="memory")
app.command("serve-mcp")(serve_mcp)
app.command("solve")(solve)
app.command("chat")(chat)
app.command("tune")(tune_command)
EXIT_PASS, EXIT_FAIL, EXIT_BAD_INPUT = 0, 1, 2
MAX_TIMEOUT_S = 86400.0  # a day: beyond it a time limit is no limit


def show_version(wanted: bool) -> None:
    if wanted:
        print(f"kernel-agent {installed_version('kernel-agent')}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option(
        "--version", callback=show_version, is_eager=True,
        help="Show the version and exit.")] = False,
) -> None:
    """An agent that writes fast, correct GPU kernels."""


@app.command()
def check(
    problem: Annotated[Path, typer.Argument(help="reference problem file (class Model)")],
    candidate: Annotated[Path, typer.Argument(help="candidate file (class ModelNew)")],
    trials: Annotated[int | None, typer.Option(
        min=1, show_default="5, or the problem's", help="correctness trials")] = None,
    atol: Annotated[float | None, typer.Option(
        show_default="the problem's, else per dtype", help="absolute tolerance")] = None,
    rtol: Annotated[float | None, typer.Option(
        show_default="the problem's, else per dtype", help="relative tolerance")] = None,
    timing: Annotated[bool, typer.Option(help="time on a GPU")] = True,
    small: Annotated[bool | None, typer.Option(
        show_default="on a CPU only", help="use get_small_inputs()")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the verdict as JSON")] = False,
    sandbox: Annotated[SandboxName, typer.Option(help="where the candidate runs")] = "local",
    timeout: Annotated[float | None, typer.Option(
        show_default="from the reference's run time",
        help="wall-clock limit in seconds: a compile allowance plus ten times the reference's "
             "own run, at most 600")] = None,
) -> None:
    """Verify CANDIDATE against PROBLEM: correctness, integrity and speed.

    Exit status: 0 pass, 1 fail, 2 bad input (a problem file or argument that cannot be used).
    """
    options = {k: v for k, v in {"trials": trials, "atol": atol, "rtol": rtol,
                                 "small": small}.items() if v is not None}
    console = Console()
    if timeout is not None and not 0 < timeout <= MAX_TIMEOUT_S:  # NaN fails this too
        refuse(f"--timeout {timeout:g}: give a number of seconds above 0 and at most "
               f"{MAX_TIMEOUT_S:g}", as_json)
    try:
        runner = one_shot_sandbox(sandbox)
    except ValueError as exc:
        refuse(str(exc), as_json)
    try:
        verdict = check_files(problem, candidate, sandbox=runner,
                              limits=Limits(wall_s=timeout) if timeout is not None else None,
                              timing=timing, **options)
    except BadInput as exc:
        refuse(str(exc), as_json)
    finally:
        runner.close()
    if as_json:
        print(json.dumps(verdict.to_dict(), indent=2))
    else:
        from kernel_agent.agent.verdict_view import render_verdict

        console.print(render_verdict(verdict, candidate, problem))
    codes = {"pass": EXIT_PASS, "fail": EXIT_FAIL, "bad_input": EXIT_BAD_INPUT}
    raise typer.Exit(codes[verdict.status])


def refuse(why: str, as_json: bool) -> NoReturn:
    """End a check on input it cannot use: said on stderr, and as JSON on stdout for `--json`,
    so that a program reading stdout always gets an answer."""
    Console(stderr=True).print(f"[bold yellow]bad input:[/] {why}")
    if as_json:
        print(json.dumps({"status": "bad_input", "error": {"kind": "bad_input", "message": why}}))
    raise typer.Exit(EXIT_BAD_INPUT)


def main() -> None:
    app()
if __name__ == "__main__":
    main()
