"""`kernel-agent chat`: describe a kernel in words, approve the drafted reference, get a kernel.

    kernel-agent chat [--out DIR] [--budget 15m] [--branches 4] [--rounds N]
                      [--profile P] [--model NAME] [--base-url URL]

Every line is a message, read from the terminal, or from stdin when it is not one (so a file of
lines drives a session). The first message is drafted into a reference problem (KernelBench
format), checked in the sandbox and shown; "y", "yes" or an empty line approves it (a draft that
cannot be used is not approved: the reason is said and the question asked again), "e" opens it
in $EDITOR (on a terminal), and anything else asks for a change. The search then runs with its
progress printed line by line. After the result, the next line is a follow-up on the same thread
("now for D=64", "make it causal"): the reference is revised from it and the best kernel so far
is offered as a starting point. Each search keeps its files in DIR/search_<N>/ (reference.py,
reference.diff against the previous search's, best_kernel.py, report.md). End of input ends the
session; `--out DIR` again continues it, since the thread is checkpointed in DIR
(graphs/conversation.py).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import click
import typer
from rich.console import Console
from rich.syntax import Syntax
from rich.text import Text

from kernel_agent.agent.cli_solve import say, speedup_text
from kernel_agent.agent.cli_style import PROFILE_HELP
from kernel_agent.agent.interrupt import exit_at_once_on_interrupt
from kernel_agent.agent.live_view import EventLines

if TYPE_CHECKING:
    from kernel_agent.graphs.conversation import Conversation, Review
    from kernel_agent.graphs.runner import SearchResult

EXIT_DONE, EXIT_BAD_INPUT, EXIT_NO_ENDPOINT = 0, 2, 3
RUNS = Path("runs")
APPROVE = frozenset({"", "y", "yes"})
ASK_MESSAGE = "you> "
ASK_REVIEW = "approve? [yes / e to edit / what to change]> "


def chat(
    out: Annotated[Path | None, typer.Option(
        show_default="runs/chat-<time>",
        help="run directory; an existing one continues its conversation")] = None,
    budget: Annotated[str, typer.Option(
        help="wall-clock budget per search: 15m, 90s, 1h or a number of minutes")] = "15m",
    branches: Annotated[int, typer.Option(min=1, help="candidates searched in parallel")] = 4,
    rounds: Annotated[int | None, typer.Option(
        min=1, help="at most this many rounds per search")] = None,
    profile: Annotated[str | None, typer.Option(
        show_default="nim-r1", help=PROFILE_HELP)] = None,
    model: Annotated[str | None, typer.Option(help="model name at the endpoint")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible endpoint URL")] = None,
) -> None:
    """Describe the kernel you want; approve the drafted reference; follow up on the result.

    Exit status: 0 the input ended, 2 bad input, 3 no model endpoint configured,
    130 interrupted (the same --out continues the conversation).
    """
    from kernel_agent.agent.models import NoEndpointConfigured, resolve_config
    from kernel_agent.evals.options import parse_duration
    from kernel_agent.graphs.conversation import Conversation

    console = Console(soft_wrap=True)
    try:
        minutes = parse_duration(budget)
        config = resolve_config(profile, {"model": model, "base_url": base_url})
    except ValueError as exc:
        _stop(f"bad input: {exc}", EXIT_BAD_INPUT)
    run_dir = out or RUNS / f"chat-{time.strftime('%Y%m%d-%H%M%S')}"
    try:
        printer = EventLines()
        conversation = Conversation(run_dir, model=config, branches=branches, minutes=minutes,
                                    rounds=rounds,
                                    on_event=lambda e: _show_event(console, printer, e))
    except NoEndpointConfigured as exc:
        _stop(str(exc), EXIT_NO_ENDPOINT)
    with conversation:
        verb = "continuing" if conversation.continued else "new"
        say(console, f"{verb} conversation {conversation.thread_id} in {run_dir} "
                      f"(model {conversation.context.generator().model_name})")
        # What a search has done is checkpointed, and a draft waits in the thread: exit at once.
        with exit_at_once_on_interrupt(
                f"interrupted; continue with: kernel-agent chat --out {run_dir}"):
            _session(console, Lines(console), conversation)
    raise typer.Exit(EXIT_DONE)


def _session(console: Console, lines: Lines, conversation: Conversation) -> None:
    """Messages, reviews and results, until the input ends."""
    from kernel_agent.graphs.conversation import Review

    outcome: Review | SearchResult | None = conversation.pending()
    shown: int | None = None  # the revision of the draft last shown in full
    if outcome is None and conversation.unfinished():
        say(console, "continuing the run that stopped before its end")
        outcome = conversation.resume()
    while True:
        if outcome is None:
            line = lines.read(ASK_MESSAGE)
            if line is None:
                return
            if line.strip():
                outcome = conversation.say(line)
        elif isinstance(outcome, Review):
            if outcome.refusal and shown == outcome.revision:  # shown a moment ago: say why
                say(console, outcome.refusal)
            else:
                show_review(console, outcome)
            shown = outcome.revision
            answer = _review_answer(console, lines, outcome)
            if answer is None:
                say(console, "the drafted reference waits for your answer; run chat with "
                              f"--out {conversation.directory.path} to give it")
                return
            outcome = conversation.answer(answer)
        else:
            show_result(console, outcome, conversation.search_number)
            outcome = None


class Lines:
    """The person's lines: the terminal with a prompt, or stdin, echoed, when it is a file."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.terminal = sys.stdin.isatty()

    def read(self, prompt: str) -> str | None:
        """The next line without its newline; None at the end of input."""
        if self.terminal:
            try:
                return self.console.input(Text(prompt))
            except EOFError:
                return None
        line = sys.stdin.readline()
        if not line:
            return None
        line = line.rstrip("\n")
        say(self.console, f"{prompt}{line}")
        return line


def _review_answer(console: Console, lines: Lines, review: Review) -> Any:
    """"yes", the edited file ({"edit": ...}) or the change asked for ({"change": ...})."""
    while True:
        line = lines.read(ASK_REVIEW)
        if line is None:
            return None
        if line.strip().lower() in APPROVE:
            return "yes"
        if line.strip().lower() != "e":
            return {"change": line}
        if not lines.terminal:
            say(console, "editing needs a terminal; say what to change instead")
            continue
        edited = click.edit(review.reference, extension=".py", require_save=True)
        if edited is None or edited.strip() == review.reference.strip():
            say(console, "the reference is unchanged")
            continue
        return {"edit": edited}


def show_review(console: Console, review: Review) -> None:
    """The drafted reference, highlighted, with what the sandbox found."""
    console.rule(f"reference problem, draft {review.revision}"
                 + (" (your edit)" if review.origin == "edited" else ""))
    say(console, f"request: {review.request}")
    console.print(Syntax(review.reference.rstrip(), "python", theme="ansi_dark",
                         word_wrap=console.is_terminal, background_color="default"))
    check = review.validation
    if check["ok"]:
        console.print(Text.assemble(("runs", "bold green"), f" in the sandbox on "
                                    f"{check['device']} ({check['seconds']:.1f} s)"))
    else:
        console.print(Text.assemble(("cannot be used", "bold red"), f": {check['error']}"))


def show_result(console: Console, result: SearchResult, number: int) -> None:
    """The search's outcome, the kernel, and what the next line does."""
    console.rule(f"search {number}: {result.status}")
    if result.error:
        say(console, f"error: {result.error}")
    if result.stop_reason:
        say(console, f"stop reason: {result.stop_reason}")
    chosen = result.chosen
    if chosen is None:
        say(console, "no kernel passed verification")
    else:
        say(console, f"best kernel: {chosen['id']} (round {chosen['round']}, branch "
                      f"{chosen['branch']}), speedup: {speedup_text(chosen)}")
        console.print(Syntax(chosen["code"].rstrip(), "python", theme="ansi_dark",
                             word_wrap=console.is_terminal, background_color="default"))
        say(console, f"saved: {result.best_kernel}")
    if result.report.exists():
        say(console, f"report: {result.report}")
    diff = result.run_dir / "reference.diff"
    if diff.exists():
        say(console, f"how the reference changed since the last search: {diff}")
    say(console, "a follow-up message continues this conversation (e.g. 'now for D=64'); "
                  "end of input ends the session")


def _show_event(console: Console, printer: EventLines, event: dict[str, Any]) -> None:
    """The search's lines as `solve` prints them on a pipe, and the drafting events'."""
    drafted = _draft_line(event)
    for line in [drafted] if drafted else printer.lines(event):
        say(console, line)


def _draft_line(event: dict[str, Any]) -> str | None:
    """One line for the drafting events, which the search view does not know."""
    if event.get("event") == "reference_drafted":
        who = "your edit" if event.get("origin") == "edited" else f"answer {event['attempt']}"
        state = "runs" if event["ok"] else f"cannot be used: {event['error']}"
        return f"reference draft {event['revision']} ({who}): {state}"
    if event.get("event") == "reference_approved":
        return f"reference approved, saved as {event['path']}"
    return None


def _stop(message: str, code: int) -> NoReturn:
    Console(stderr=True, soft_wrap=True).print(message, markup=False, highlight=False)
    raise typer.Exit(code)
