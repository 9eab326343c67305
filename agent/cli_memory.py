"""`kernel-agent memory ...`: look into kernel memory, and move it between machines.

    kernel-agent memory list [--problem FILE] [--json]
    kernel-agent memory show ID
    kernel-agent memory export FILE
    kernel-agent memory import FILE

The memory file is KERNEL_AGENT_MEMORY, else memory.sqlite in kernel-agent's cache folder.
Exit status 2 for what cannot be used: an unknown id, an unreadable or invalid file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, NoReturn

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


def gpu_text(gpu: str) -> str:
    """The GPU as a person names it: `H100 80GB HBM3` (every listed GPU is an NVIDIA one)."""
    return gpu.removeprefix("NVIDIA ")


# Columns shortened where the terminal is narrow, the floor each keeps, and how many of each
# four characters to spare each one takes; every other column keeps its whole width.
SHORTENED = {"problem": (12, 2), "GPU": (4, 1), "origin": (6, 1)}
GAP = 2  # between columns


def entry_table(rows: list[tuple[str, MemoryEntry]], width: int) -> Table:
    """One line per kernel, `width` columns at most: ids, speedups and dates are never cut;
    the problem's name, the GPU and the origin are shortened with an ellipsis where the
    terminal is narrow (`memory show ID` and `--json` have them whole); the speedup headers
    take two lines before anything else is shortened."""
    show_match = any(match for match, _ in rows)
    cells = {
        **({"match": [match for match, _ in rows]} if show_match else {}),
        "id": [str(e.id) for _, e in rows],
        "problem": [e.problem_name for _, e in rows],
        "backend": [e.backend for _, e in rows],
        "vs eager": [speedup(e.speedup_eager) for _, e in rows],
        "vs compile": [speedup(e.speedup_compiled) for _, e in rows],
        "GPU": [gpu_text(e.gpu) for _, e in rows],
        "created": [created_text(e.created) for _, e in rows],
        "origin": [e.origin for _, e in rows],
    }
    natural = {name: max(len(name), *map(len, column)) for name, column in cells.items()}
    widths = fit(natural, width - GAP * (len(cells) - 1))
    table = Table(box=None, pad_edge=False, header_style="bold underline", padding=(0, 1))
    for name in cells:
        table.add_column(name, width=widths[name], no_wrap=name in SHORTENED,
                         overflow="ellipsis", justify="right" if name.startswith(("id", "vs"))
                         else "left")
    for row in zip(*cells.values(), strict=True):
        table.add_row(*map(Text, row))
    return table


def fit(natural: dict[str, int], room: int) -> dict[str, int]:
    """Column widths within `room`: speedup headers wrap first, then the SHORTENED columns
    give up characters in turn, down to their floors."""
    widths = dict(natural)
    for name in ("vs eager", "vs compile"):
        if sum(widths.values()) > room:
            widths[name] = max(len(name.split()[-1]), 5)
    spare = room - sum(v for k, v in widths.items() if k not in SHORTENED)
    short = {k: min(natural[k], floor) for k, (floor, _) in SHORTENED.items()}
    spare -= sum(short.values())
    turns = [k for k, (_, share) in SHORTENED.items() for _ in range(share)]
    while spare > 0 and any(short[k] < natural[k] for k in SHORTENED):
        for name in turns:
            if spare > 0 and short[name] < natural[name]:
                short[name] += 1
                spare -= 1
    return {**widths, **short}


def created_text(created: str) -> str:
    """`2026-11-26 13:39` from the stored ISO time."""
    return created[:16].replace("T", " ")


def entry_json(match: str, entry: MemoryEntry) -> dict[str, Any]:
    """A kernel as `memory list --json` gives it: what the table shows, whole, and its keys."""
    return {**({"match": match} if match else {}), "id": entry.id,
            "problem": entry.problem_name, "backend": entry.backend,
            "speedup_eager": entry.speedup_eager, "speedup_compiled": entry.speedup_compiled,
            "gpu": entry.gpu, "created": entry.created, "origin": entry.origin,
            "fingerprint": entry.fingerprint, "family": entry.family}


@memory_app.command("list")
def list_kernels(
    problem: Annotated[Path | None, typer.Option(
        help="only kernels for this problem file (exact), then those of its family (similar)")
    ] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="print one JSON object (the memory's path and its kernels) instead")
    ] = False,
) -> None:
    """List remembered kernels, newest first, or the best ones for --problem first."""
    console = Console()
    facts: dict[str, Any] = {}
    with open_memory() as memory:
        facts["memory"] = str(memory.path)
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
            facts.update(problem_file=str(problem), family=fingerprint.family,
                         note=fingerprint.note or None)
    if as_json:
        facts["kernels"] = [entry_json(match, entry) for match, entry in rows]
        print(json.dumps(facts, indent=2))
        return
    if facts.get("note"):
        console.print(Text(f"note: {facts['note']}"))
    console.print(Text(heading))
    if rows:
        console.print(entry_table(rows, console.width))


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
