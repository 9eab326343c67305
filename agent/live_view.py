"""What `kernel-agent solve` shows while a search runs, folded from its progress events.

`SearchView.apply` takes the events of `run_search(on_event=...)` (graphs/events.py) one by one;
`render(now)` draws the budget bar, the current round, a table of candidates and the best so
far; `line_for(event)` is the one line per notable event printed where there is no terminal to
redraw (a pipe, a CI log). All three depend on the events seen and the clock passed in, nothing
else, so they are tested without a terminal.

`candidate_verified` events may carry `kind`, the diagnosis class of the verdict
(compile_error, wrong_output, ...); the command adds it from the run directory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

Event = dict[str, Any]
ROWS_SHOWN = 16
HEADLINE_CHARS = 110


@dataclass
class Row:
    """One branch's candidate in one round, from being asked for to its verdict."""

    branch: int
    round: int
    status: str = "generating"  # generating, verifying, pass, fail, no candidate
    kind: str = ""  # the error class: diagnosis kind, or why there was no candidate
    headline: str = ""
    speedup: float | None = None
    id: str = ""
    failed_tries: int = 0  # failed calls and answers without code the step went on from


@dataclass
class SearchView:
    """The search as far as its events tell; `minutes`/`max_rounds` may be known beforehand
    (a resumed run sees no `run_started`)."""

    problem: str
    branches: int
    minutes: float | None = None
    max_rounds: int | None = None
    deadline: float | None = None
    round: int = 0
    ideas: list[str] = field(default_factory=list)
    rows: dict[tuple[int, int], Row] = field(default_factory=dict)
    best: Event | None = None
    tokens_used: int = 0
    stop_reason: str | None = None
    error: str | None = None
    finished: bool = False

    def apply(self, event: Event) -> None:
        """Fold one progress event into the view."""
        name = event.get("event")
        if name == "run_started":
            self.branches = event.get("branches", self.branches)
            self.minutes = event.get("minutes", self.minutes)
            self.max_rounds = event.get("rounds", self.max_rounds)
            if self.minutes is not None:
                self.deadline = event["time"] + 60 * self.minutes
        elif name == "plan_ready":
            self.ideas = list(event.get("ideas") or [])
            self.branches = len(self.ideas) or self.branches
        elif name == "round_started":
            self.round = event["round"]
            for branch in range(self.branches):
                self.rows.setdefault((self.round, branch), Row(branch, self.round))
        elif name == "candidate_generated":
            self._row(event).status = "verifying"
        elif name == "generation_failed":
            row = self._row(event)
            row.status, row.kind, row.headline = ("no candidate", event.get("kind", ""),
                                                  event.get("message", ""))
        elif name == "attempt_failed":
            row = self._row(event)
            row.kind, row.headline = event.get("kind", ""), event.get("message", "")
            row.failed_tries += 1
        elif name == "time_added":
            self.minutes, self.finished = event["minutes"], False
            self.deadline = event["time"] + event["seconds_left"]
        elif name == "candidate_verified":
            row = self._row(event)
            row.status, row.kind = event["status"], event.get("kind", "")
            row.headline, row.speedup, row.id = (event.get("headline", ""),
                                                 event.get("speedup"), event["id"])
        elif name == "new_best":
            self.best = dict(event)
        elif name == "budget":
            self.tokens_used = event.get("tokens_used", self.tokens_used)
            if event.get("seconds_left") is not None:
                self.deadline = event["time"] + event["seconds_left"]
            if event.get("rounds_left") is not None:
                self.max_rounds = event["round"] + event["rounds_left"]
        elif name == "finished":
            self.finished = True
            self.stop_reason, self.error = event.get("stop_reason"), event.get("error")

    def _row(self, event: Event) -> Row:
        key = (event["round"], event["branch"])
        return self.rows.setdefault(key, Row(event["branch"], event["round"]))

    def render(self, now: float) -> RenderableType:
        """The whole display at time `now`."""
        parts: list[RenderableType] = [self._header(), self._budget(now)]
        if self.ideas:
            parts.append(Text("\n".join(f"  branch {i}: {_cut(idea, HEADLINE_CHARS)}"
                                        for i, idea in enumerate(self.ideas)), style="dim"))
        parts.append(self._table())
        parts.append(self._best())
        return Group(*parts)

    def _header(self) -> Text:
        text = Text.assemble(("kernel-agent solve ", "bold"), self.problem)
        if self.round:
            of = f" of {self.max_rounds}" if self.max_rounds else ""
            text.append(f"   round {self.round}{of}", style="bold cyan")
        if self.finished:
            text.append("   finished", style="bold")
        return text

    def _budget(self, now: float) -> RenderableType:
        grid = Table.grid(padding=(0, 1))
        used = self.time_used(now)
        total = 60 * self.minutes if self.minutes else None
        bar = ProgressBar(total=total or 1.0, completed=used if used is not None else 0.0,
                          width=40)
        clock = (f"{_clock(used)} / {_clock(total)}" if used is not None and total
                 else "time: known when this round ends")
        rounds = f"rounds {self.rounds_done()}" + (f"/{self.max_rounds}" if self.max_rounds
                                                    else "")
        grid.add_row("budget", bar, clock, rounds, f"tokens {self.tokens_used}")
        return grid

    def time_used(self, now: float) -> float | None:
        """Seconds of the budget used at `now`, when the deadline is known."""
        if self.deadline is None or not self.minutes:
            return None
        total = 60 * self.minutes
        return min(total, max(0.0, total - (self.deadline - now)))

    def rounds_done(self) -> int:
        """Rounds whose candidates all have an outcome."""
        if not self.round:
            return 0
        current = [r for (n, _), r in self.rows.items() if n == self.round]
        done = current and all(r.status in ("pass", "fail", "no candidate") for r in current)
        return self.round if done else self.round - 1

    def _table(self) -> Table:
        rows = [self.rows[key] for key in sorted(self.rows)]
        hidden = max(0, len(rows) - ROWS_SHOWN)
        table = Table(caption=f"{hidden} earlier candidate(s) not shown" if hidden else None,
                      expand=False)
        for column in ("round", "branch", "status", "class", "headline", "speedup"):
            table.add_column(column, overflow="fold" if column == "headline" else "ellipsis")
        for row in rows[hidden:]:
            status = _status(row.status)
            if row.failed_tries:
                status.append(f" ({row.failed_tries} failed)", style="yellow")
            table.add_row(str(row.round), str(row.branch), status, row.kind,
                          _cut(row.headline, HEADLINE_CHARS), _speed(row.status, row.speedup))
        return table

    def _best(self) -> Text:
        if self.best is None:
            return Text("best so far: none yet", style="dim")
        best = self.best
        return Text.assemble(
            ("best so far: ", "bold"), f"{best['id']} ({best['status']}, "
            f"{_speed(best['status'], best.get('speedup'))}), round {best['round']} branch "
            f"{best['branch']}: {_cut(best.get('headline', ''), HEADLINE_CHARS)}")


def line_for(event: Event) -> str | None:
    """One plain line for a notable event, None for the others (e.g. critic_done)."""
    name = event.get("event")
    if name == "run_started":
        rounds = f", at most {event['rounds']} rounds" if event.get("rounds") else ""
        return (f"started {event['problem']}: {event['branches']} branch(es), budget "
                f"{event['minutes']:g} min{rounds} ({event.get('mode', 'auto')})")
    if name == "plan_ready":
        ideas = "; ".join(f"{i}: {_cut(idea, 60)}" for i, idea in enumerate(event["ideas"]))
        return f"plan ({event.get('source', '?')}): {ideas}"
    if name == "round_started":
        return f"round {event['round']} started"
    if name == "generation_failed":
        return (f"round {event['round']} branch {event['branch']}: no candidate "
                f"({event.get('kind', '?')}): {_cut(event.get('message', ''), HEADLINE_CHARS)}")
    if name == "attempt_failed":
        return (f"round {event['round']} branch {event['branch']}: attempt failed "
                f"({event.get('kind', '?')}), asking again: "
                f"{_cut(event.get('message', ''), HEADLINE_CHARS)}")
    if name == "time_added":
        return (f"time added: {event['minutes']:g} min more, from round {event['round']}")
    if name == "candidate_verified":
        kind = f" [{event['kind']}]" if event.get("kind") else ""
        reused = ", verdict reused" if event.get("reused") else ""
        return (f"round {event['round']} branch {event['branch']}: {event['status'].upper()}"
                f"{kind} {event['id']}: {_cut(event.get('headline', ''), HEADLINE_CHARS)} "
                f"(speedup {_speed(event['status'], event.get('speedup'))}, verified in "
                f"{event.get('verify_s', 0):.1f} s{reused})")
    if name == "new_best":
        return (f"new best: {event['id']} ({event['status']}, "
                f"{_speed(event['status'], event.get('speedup'))})")
    if name == "round_finished":
        return (f"round {event['round']} finished in {event['seconds']:.1f} s: "
                f"{event['verified']} verified, {event['passed']} passed, "
                f"{event['failures']} without a candidate")
    if name == "budget":
        rounds = (f", {event['rounds_left']} round(s) left"
                  if event.get("rounds_left") is not None else "")
        return (f"budget: {_clock(max(0.0, event['seconds_left']))} left{rounds}, "
                f"{event['tokens_used']} tokens used")
    if name == "retimed":
        return ("finalists re-timed" if event.get("measured")
                else f"finalists not re-timed: {event.get('reason')}")
    if name == "finished":
        return f"finished: {event.get('stop_reason') or 'stopped'}"
    return None


def _status(status: str) -> Text:
    style = {"pass": "bold green", "fail": "red", "no candidate": "yellow"}.get(status, "dim")
    return Text(status, style=style)


def _speed(status: str, speedup: float | None) -> str:
    if speedup is not None:
        return f"{speedup:.2f}x"
    return "not timed" if status == "pass" else "-"


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def _cut(text: str, limit: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
