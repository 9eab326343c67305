"""`kernel-agent solve PROBLEM.py`: search for a fast, correct kernel within a budget.

    kernel-agent solve PROBLEM.py [--budget 15m] [--branches 4] [--profile P] [--model NAME]
                       [--base-url URL] [--backend triton|cuda] [--sandbox local|docker]
                       [--target-speedup X] [--rounds N] [--out DIR] [--resume ID]

The search is `kernel_agent.graphs.run_search`; this module checks the input, shows the progress
events (agent/live_view.py) and sums the outcome up. Ctrl-C ends the process at once, the way a
kill would: everything checkpointed stays, and whatever was in flight (a model answer, a
verification) is asked for again when the run is resumed with the command it prints. A search
the circuit breaker ended (the endpoint is down) exits 4 with the command that resumes it with
more time (`--resume RUN --budget 10m`).
"""

from __future__ import annotations

import shlex
import shutil
import threading
import time
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console, RenderableType
from rich.live import Live
from rich.text import Text

from kernel_agent.agent.cli_style import PROFILE_HELP, BackendName, SandboxName
from kernel_agent.agent.interrupt import EXIT_INTERRUPTED, exit_at_once_on_interrupt
from kernel_agent.agent.live_view import EventLines

if TYPE_CHECKING:
    from kernel_agent.agent.live_view import SearchView
    from kernel_agent.agent.models import ModelConfig, NoEndpointConfigured
    from kernel_agent.agent.solve_setup import SolvePlan, SolveRequest
    from kernel_agent.graphs.runner import SearchResult
    from kernel_agent.sandbox import Sandbox

EXIT_PASS, EXIT_NONE_PASSED, EXIT_BAD_INPUT, EXIT_NO_ENDPOINT = 0, 1, 2, 3
EXIT_ENDPOINT_DOWN = 4
BAD_INPUT_STOP = "bad input"  # the search's stop reason when intake refused the problem
TIME_STOP = "time budget used"  # the search's stop reason when its deadline came
RUN_FILES = (("best_kernel.py", "the fastest kernel that passed every check"),
             ("report.md", "what was tried, what won and why"),
             ("candidates.jsonl", "every candidate with its verdict"),
             ("attempts.jsonl", "every failed model call and answer without code, and why"),
             ("run.json", "the run's settings and thread id"),
             ("checkpoints.sqlite", "the search's checkpoints, for --resume"))
SOLVE_HINT = """\
kernel-agent solve uses the profile nim-r1 (NVIDIA NIM, DeepSeek-R1) unless --profile or
KERNEL_AGENT_PROFILE names another. For any OpenAI-compatible endpoint pass --base-url (or set
KERNEL_AGENT_BASE_URL) and name the served model with --model (or KERNEL_AGENT_MODEL)."""


def solve(
    problem: Annotated[Path, typer.Argument(help="the problem file (KernelBench format)")],
    budget: Annotated[str | None, typer.Option(
        show_default="15m", help="wall-clock budget: 15m, 90s, 1h or a number of minutes")
    ] = None,
    branches: Annotated[int | None, typer.Option(
        min=1, show_default="4", help="candidates searched in parallel")] = None,
    profile: Annotated[str | None, typer.Option(
        show_default="nim-r1", help=PROFILE_HELP)] = None,
    model: Annotated[str | None, typer.Option(help="model name at the endpoint")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint URL")] = None,
    backend: Annotated[BackendName | None, typer.Option(
        show_default="the problem's", help="allow only this kernel language")] = None,
    sandbox: Annotated[SandboxName, typer.Option(help="where candidates run")] = "local",
    target_speedup: Annotated[float | None, typer.Option(
        help="stop once a kernel is this many times faster than eager PyTorch")] = None,
    rounds: Annotated[int | None, typer.Option(min=1, help="at most this many rounds")] = None,
    out: Annotated[Path | None, typer.Option(
        show_default="runs/<problem>-<id>", help="run directory")] = None,
    resume: Annotated[str | None, typer.Option(
        help="continue a run: its directory or its thread id; with --budget, add that much "
             "time to it")] = None,
) -> None:
    """Search for a fast, correct kernel for PROBLEM within the budget.

    Exit status: 0 a correct kernel was found, 1 none passed, 2 bad input,
    3 no model endpoint configured, 4 the model endpoint went down during the search (resume
    it with more time), 130 interrupted (the run can be resumed).
    """
    started = time.time()  # the budget counts from here: start-up is part of it
    from kernel_agent.agent.solve_setup import SolveRequest

    request = SolveRequest(problem=problem, budget=budget, branches=branches, backend=backend,
                           sandbox=sandbox, target_speedup=target_speedup, rounds=rounds,
                           out=out, resume=resume)
    try:
        plan, config, no_model = _prepare(request, profile, model, base_url)
        flags = {"--profile": profile, "--model": model, "--base-url": base_url,
                 "--sandbox": None if sandbox == "local" else sandbox}
        hint = resume_command(problem, plan.run_dir, flags)
        code = (_run(plan, config, sandbox, hint, started) if config
                else _recall(plan, sandbox, no_model))
    except KeyboardInterrupt:  # before the search's own handler is in place, or after it
        Console(stderr=True).print("interrupted")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    raise typer.Exit(code)


def _prepare(request: SolveRequest, profile: str | None, model: str | None, base_url: str | None
             ) -> tuple[SolvePlan, ModelConfig | None, NoEndpointConfigured | None]:
    """The plan and a model configuration that names a reachable kind of endpoint; without
    one, a new run can still answer from kernel memory (the configuration is None then)."""
    from kernel_agent.agent.models import (
        NoEndpointConfigured,
        discover_model,
        ensure_endpoint,
        resolve_config,
    )
    from kernel_agent.agent.solve_setup import SolveInputError, plan_solve

    try:
        plan = plan_solve(request)
        config = resolve_config(profile, {"model": model, "base_url": base_url})
    except (SolveInputError, ValueError, FileNotFoundError) as exc:
        bad_input(str(exc))
    try:
        ensure_endpoint(config)
        config = discover_model(config)
    except NoEndpointConfigured as exc:
        if plan.resume:
            no_endpoint(exc)
        return plan, None, exc
    return plan, config, None


def _run(plan: SolvePlan, config: ModelConfig, sandbox_name: str, hint: str,
         started: float) -> int:
    """Run the search with progress shown; the exit status. A new search's budget ends
    `plan.minutes` after `started`, when the command began."""
    from kernel_agent.agent.live_view import SearchView

    console = Console(soft_wrap=True)
    verb = "resuming" if plan.resume else "solving"
    console.print(f"{verb} {plan.problem} with {config.model} at {config.base_url} -> "
                  f"{plan.run_dir}", markup=False, highlight=False)
    deadline = None if plan.resume else started + 60 * plan.minutes
    view = SearchView(problem=str(plan.problem), branches=plan.branches, minutes=plan.minutes,
                      max_rounds=plan.rounds, deadline=deadline)
    if plan.resume:
        view.seed(*checkpointed(plan.run_dir, plan.thread_id, plan.target_speedup))
    result = _searched(plan, sandbox_name, console, view,
                       f"interrupted: the search stopped; its checkpoint is kept in "
                       f"{plan.run_dir}\nresume it with:\n  {hint}",
                       model=config, branches=plan.branches, rounds=plan.rounds,
                       target_speedup=plan.target_speedup, resume=plan.resume,
                       more_minutes=plan.more_minutes, deadline=deadline)
    for line in summary_lines(result):
        say(console, line)
    more_time = f"{hint} --budget {duration_text(plan.minutes)}"
    if result.endpoint_down:
        Console(stderr=True, soft_wrap=True).print(
            f"the model endpoint is down: {result.error}\nevery verified candidate is kept in "
            f"{plan.run_dir}; once the endpoint answers again, resume with more time:\n"
            f"  {more_time}", markup=False, highlight=False)
        return EXIT_ENDPOINT_DOWN
    if result.status != "pass" and result.stop_reason == TIME_STOP:
        say(console, f"to search on with more time:\n  {more_time}")
    return EXIT_PASS if result.status == "pass" else EXIT_NONE_PASSED


def _recall(plan: SolvePlan, sandbox_name: str, no_model: NoEndpointConfigured | None) -> int:
    """No model endpoint: answer from kernel memory, re-verified (and tuned, on a GPU) here.
    Exit 0 with a remembered kernel that passes, else say how to configure an endpoint."""
    from kernel_agent.agent.live_view import SearchView

    console = Console(soft_wrap=True)
    console.print(f"no model endpoint configured: looking {plan.problem} up in kernel memory "
                  f"-> {plan.run_dir}", markup=False, highlight=False)
    view = SearchView(problem=str(plan.problem), branches=1, minutes=plan.minutes,
                      max_rounds=0, deadline=None)
    new_parent = not plan.run_dir.parent.exists()
    result = _searched(plan, sandbox_name, console, view,
                       "interrupted: kernel memory was not looked up to the end; run the "
                       "command again", branches=1, recall_only=True)
    if not result.candidates:  # memory knew nothing: no run worth keeping
        shutil.rmtree(plan.run_dir, ignore_errors=True)
        if new_parent:
            with suppress(OSError):
                plan.run_dir.parent.rmdir()
    else:
        for line in summary_lines(result):
            say(console, line)
    if result.status != "pass":
        console.print(f"no remembered kernel: {result.stop_reason}", markup=False,
                      highlight=False)
        no_endpoint(no_model)
    console.print(f"\nGenerating new kernels needs a model endpoint. {no_model}\n{SOLVE_HINT}",
                  markup=False, highlight=False)
    return EXIT_PASS


def _searched(plan: SolvePlan, sandbox_name: str, console: Console, view: SearchView,
              interrupted: str, **search: Any) -> SearchResult:
    """`run_search` on the plan's problem and run directory with the progress shown and Ctrl-C
    ending the command at once (saying `interrupted`); input the search refuses ends it too."""
    from kernel_agent.agent.models import NoEndpointConfigured
    from kernel_agent.graphs.runner import RunDirInUse, run_search

    runner = _sandbox(sandbox_name)
    display = Display(console, view, plan.run_dir, plan.target_speedup)
    try:
        with display, exit_at_once_on_interrupt(interrupted,
                                                live=lambda: display.live is not None):
            result = run_search(plan.problem, plan.run_dir, minutes=plan.minutes,
                                problem_text=plan.problem_text, sandbox=runner,
                                thread_id=plan.thread_id, on_event=display.on_event, **search)
    except RunDirInUse as exc:
        bad_input(str(exc))
    except NoEndpointConfigured as exc:
        no_endpoint(exc)
    finally:
        if runner is not None:
            runner.close()
    if result.stop_reason == BAD_INPUT_STOP:  # the search refused the problem at intake
        bad_input(f"{result.error} (report: {result.report})")
    return result


def _sandbox(name: str) -> Sandbox | None:
    """The named sandbox backend; None for local, which the search starts itself."""
    from kernel_agent.sandbox import get_sandbox

    try:
        return None if name == "local" else get_sandbox(name)
    except ValueError as exc:
        bad_input(f"the {name} sandbox cannot be used: {exc}")


def say(console: Console, line: str) -> None:
    """A line of the outcome: wrapped between words on a terminal; on a pipe, one line as it
    is (a log keeps its paths whole)."""
    console.print(line, markup=False, highlight=False, soft_wrap=not console.is_terminal)


def checkpointed(run_dir: Path, thread_id: str, target_speedup: float | None
                 ) -> tuple[dict[str, Any], dict[str, str], list[dict[str, Any]]]:
    """A run's checkpointed state, the class of each candidate's verdict and the failed
    attempts: what a resumed run's view starts from (its rounds, ideas and budget are there,
    not in new events)."""
    from contextlib import closing

    from langgraph.checkpoint.sqlite import SqliteSaver

    from kernel_agent.agent.critic import diagnose
    from kernel_agent.graphs import build_graph
    from kernel_agent.graphs.rundir import RunDir
    from kernel_agent.tools.verdict import Verdict

    directory = RunDir(run_dir)
    with closing(directory.open_checkpoints()) as conn:
        graph = build_graph(checkpointer=SqliteSaver(conn))
        values = dict(graph.get_state({"configurable": {"thread_id": thread_id}}).values)
    kinds = {c["id"]: diagnose(Verdict.from_dict(c["verdict"]), c["code"],
                               target_speedup=target_speedup).kind
             for c in values.get("candidates") or []}
    return values, kinds, directory.attempts()


class Display:
    """A Rich Live view on a terminal; one line per notable event anywhere else."""

    def __init__(self, console: Console, view: SearchView, run_dir: Path,
                 target_speedup: float | None) -> None:
        from kernel_agent.graphs.rundir import RunDir

        self.console, self.view, self.run_dir = console, view, RunDir(run_dir)
        self.target_speedup = target_speedup
        self.lock = threading.Lock()
        self.live: Live | None = None
        self.lines = EventLines()

    def __enter__(self) -> Display:
        if self.console.is_terminal and not self.console.is_dumb_terminal:
            self.live = Live(get_renderable=self.render, console=self.console,
                             refresh_per_second=2)
            self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.stop()

    def render(self) -> RenderableType:
        with self.lock:
            return self.view.render(time.time())

    def on_event(self, event: dict[str, Any]) -> None:
        event = self.classified(event)
        with self.lock:
            self.view.apply(event)
        if self.live is None:
            for line in self.lines.lines(event):
                self.console.print(line, markup=False, highlight=False)

    def classified(self, event: dict[str, Any]) -> dict[str, Any]:
        """A verified candidate's event with the class of its verdict (`kind`), read from the
        candidate the run directory recorded just before the event."""
        if event.get("event") != "candidate_verified":
            return event
        from kernel_agent.agent.critic import diagnose
        from kernel_agent.tools.verdict import Verdict

        recorded = self.run_dir.recorded(event["id"])
        if recorded is None:
            return event
        diagnosis = diagnose(Verdict.from_dict(recorded["verdict"]), recorded["code"],
                             target_speedup=self.target_speedup)
        return {**event, "kind": diagnosis.kind}


def resume_command(problem: Path, run_dir: Path, flags: dict[str, str | None]) -> str:
    """The command that continues this run (the model settings given on this command line
    included, since a run directory does not keep them)."""
    words = ["kernel-agent", "solve", str(problem), "--resume", str(run_dir)]
    for flag, value in flags.items():
        if value is not None:
            words += [flag, value]
    return shlex.join(words)


def summary_lines(result: SearchResult) -> list[str]:
    """The outcome: status, stop reason, best kernel and speed, rounds, tokens, files."""
    lines = [f"status: {result.status}", f"stop reason: {result.stop_reason or '-'}"]
    if result.error:
        lines.append(f"error: {result.error}")
    chosen = result.chosen
    if chosen is None:
        lines.append("best kernel: none passed verification")
    else:
        lines.append(f"best kernel: {chosen['id']} (round {chosen['round']}, branch "
                     f"{chosen['branch']}), speedup: {speedup_text(chosen)}")
    lines.append(f"rounds: {result.rounds}, candidates verified: {len(result.candidates)}, "
                 f"tokens: {result.tokens_used}, failed attempts: {len(result.attempts)}")
    lines.append(f"files in {result.run_dir}:")
    for name, what in RUN_FILES:
        path = result.run_dir / name
        if path.exists():
            lines.append(f"  {path}  ({what})")
    return lines


def duration_text(minutes: float) -> str:
    """A budget as `--budget` takes it: whole minutes as 15m, anything else in seconds."""
    seconds = max(1, round(60 * minutes))
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


def speedup_text(candidate: dict[str, Any]) -> str:
    """The candidate's speedup over eager (and torch.compile), or why it was not timed."""
    verdict = candidate.get("verdict") or {}
    if candidate.get("speedup") is not None:
        compiled = (verdict.get("timing") or {}).get("speedup_compiled")
        over_compiled = f", {compiled:.2f}x over torch.compile" if compiled else ""
        return f"{candidate['speedup']:.2f}x over eager PyTorch{over_compiled}"
    if (verdict.get("device") or {}).get("type") != "cuda":
        return "not timed on CPU"
    why = (verdict.get("not_measured") or {}).get("timing", "no timing in the verdict")
    return f"not timed: {why}"


def bad_input(message: str) -> NoReturn:
    Console(stderr=True, soft_wrap=True).print(
        Text.assemble(("bad input: ", "bold yellow"), message))
    raise typer.Exit(EXIT_BAD_INPUT)


def no_endpoint(exc: Exception | None) -> NoReturn:
    """How to configure a model endpoint, then exit 3 (no traceback: this is set-up)."""
    console = Console(stderr=True, soft_wrap=True)
    console.print(str(exc), markup=False, highlight=False)
    console.print(f"\n{SOLVE_HINT}", markup=False, highlight=False)
    raise typer.Exit(EXIT_NO_ENDPOINT)
