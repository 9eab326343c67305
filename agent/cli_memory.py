"""`kernel-agent memory ...`: look into kernel memory, and move it between machines.

    kernel-agent memory list [--problem FILE]
    kernel-agent memory show ID
    kernel-agent memory export FILE
    kernel-agent memory import FILE

The memory file is KERNEL_AGENT_MEMORY, else memory.sqlite in kernel-agent's cache folder.
Exit status 2 for what cannot be used: an unknown id, an unreadable or invalid file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.panel import Panel
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from kernel_agent.agent.cli_style import App
from kernel_agent.tools.check import BadInput, read_source
from kernel_agent.tools.memory import KernelMemory, KernelMemoryError, recall
from kernel_agent.tools.memory_record import MemoryEntry

EXIT_BAD_INPUT = 2
SIMILAR_SHOWN = 10

memory_app = App(
    no_args_is_help=True,
    help="Kernel memory: every kernel that passed the verifier, found again by problem.")


def fail(message: str) -> NoReturn:
    Console(stderr=True).print(f"[bold yellow]bad input:[/] {message}", highlight=False)
    raise typer.Exit(EXIT_BAD_INPUT)


def open_memory() -> KernelMemory:
    try:
        return KernelMemory()
    except KernelMemoryError as exc:
        fail(str(exc))


def speedup(value: float | None) -> str:
    return f"{value:.2f}x" if value is not None else "-"


def entry_table(rows: list[tuple[str, MemoryEntry]]) -> Table:
    """One row per kernel; the first column says how it matched when a problem was given."""
    table = Table()
    show_match = any(match for match, _ in rows)
    for column in (["match"] if show_match else []) + [
            "id", "problem", "backend", "vs eager", "vs compile", "GPU", "created", "origin"]:
        table.add_column(column, overflow="fold")
    for match, entry in rows:
        table.add_row(*([match] if show_match else []), str(entry.id), Text(entry.problem_name),
                      entry.backend, speedup(entry.speedup_eager),
                      speedup(entry.speedup_compiled), Text(entry.gpu),
                      entry.created[:16].replace("T", " "),
                      Text(entry.origin))
    return table


@memory_app.command("list")
def list_kernels(
    problem: Annotated[Path | None, typer.Option(
        help="only kernels for this problem file (exact), then those of its family (similar)")
    ] = None,
) -> None:
    """List remembered kernels, newest first, or the best ones for --problem first."""
    console = Console()
    with open_memory() as memory:
        if problem is None:
            rows = [("", entry) for entry in memory.list()]
            heading = f"kernel memory {memory.path}: {len(rows)} kernel(s)"
        else:
            try:
                text = read_source(problem, "problem")["text"]
                exact, similar = recall(text, memory, limit=SIMILAR_SHOWN)
                fingerprint = memory.fingerprint(text)
            except (BadInput, KernelMemoryError) as exc:
                fail(str(exc))
            rows = [("exact", e) for e in exact] + [("similar", e) for e in similar]
            heading = (f"kernel memory {memory.path}: {len(exact)} exact, {len(similar)} "
                       f"similar for {problem} (family {fingerprint.family})")
            if fingerprint.note:
                console.print(Text(f"note: {fingerprint.note}"))
    console.print(Text(heading))
    if rows:
        console.print(entry_table(rows))


@memory_app.command()
def show(entry_id: Annotated[int, typer.Argument(metavar="ID", help="a kernel's id")]) -> None:
    """Print one kernel: its source, where it was verified and its verdict."""
    with open_memory() as memory:
        entry = memory.get(entry_id)
        if entry is None:
            fail(f"no kernel with id {entry_id} in kernel memory {memory.path}")
    facts = Table.grid(padding=(0, 2))
    for name, value in [
            ("problem", entry.problem_name), ("fingerprint", entry.fingerprint),
            ("family", entry.family), ("backend", entry.backend), ("GPU", entry.gpu),
            ("speedup vs eager", speedup(entry.speedup_eager)),
            ("speedup vs torch.compile", speedup(entry.speedup_compiled)),
            ("versions", ", ".join(f"{k} {v}" for k, v in entry.versions.items())),
            ("created", entry.created), ("origin", entry.origin)]:
        facts.add_row(name, Text(value))
    console = Console()
    console.print(Panel(facts, title=f"kernel {entry.id}", title_align="left"))
    console.print(Syntax(entry.source, "python", line_numbers=True, word_wrap=True))
    console.print(Panel(Text(entry.verdict_summary), title="verdict", title_align="left"))


@memory_app.command("export")
def export_kernels(file: Annotated[Path, typer.Argument(help="JSON Lines file to write")]
                   ) -> None:
    """Write every kernel to FILE, one JSON object a line."""
    with open_memory() as memory:
        try:
            count = memory.export(file)
        except KernelMemoryError as exc:
            fail(str(exc))
    Console().print(f"exported {count} kernel(s) to {file}", highlight=False)


@memory_app.command("import")
def import_kernels(file: Annotated[Path, typer.Argument(help="a file made by `memory export`")]
                   ) -> None:
    """Add the kernels of FILE; one bad line and nothing is added."""
    with open_memory() as memory:
        try:
            counts = memory.import_(file)
        except KernelMemoryError as exc:
            fail(str(exc))
    Console().print(f"imported {file}: {counts.new} new, {counts.present} already present",
                    highlight=False)
