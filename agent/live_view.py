"""What `kernel-agent solve` shows while a search runs, folded from its progress events.

`SearchView.apply` takes the events of `run_search(on_event=...)` (graphs/events.py) one by one;
`render(now)` draws the budget bar, the current round, a table of candidates and the best so
far; `line_for(event)` is the one line per notable event printed where there is no terminal to
redraw (a pipe, a CI log). All three depend on the events seen and the clock passed in, nothing
else, so they are tested without a terminal.

`candidate_verified` events may carry `kind`, the diagnosis class of the verdict
(compile_error, wrong_output, ...); the command adds it from the run directory. A resumed run
starts from `SearchView.seed(...)` with what its checkpoint holds (rounds, ideas, budget).

What a person reads must be true at a glance: the best shown has passed (until one has, the
latest failure is shown as such); the budget clock never runs backwards; a caveat that holds for
the whole machine ("speed not measured: no GPU on this machine") is said once, in the header,
not on every row; every row is one line, so the view fits an 80-column terminal.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

Event = dict[str, Any]
ROWS_SHOWN = 16
HEADLINE_CHARS = 110
BAR_WIDTH = 24
CAVEAT = "; speed not measured: "  # agent/critic.py and graphs/assess.py end lines with it
PLAN_SOURCES = {"built-in": "the model's plan could not be used, so the ideas are built-in",
                "model+built-in": "the model's plan held too few ideas; the rest are built-in"}


def split_caveat(text: str) -> tuple[str, str | None]:
    """A headline or stop reason without its machine-wide caveat, and the caveat."""
    head, found, why = text.partition(CAVEAT)
    return (head, f"speed not measured: {why}") if found else (text, None)


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
    best: Event | None = None  # the best passing candidate
    latest_failure: Event | None = None  # shown while nothing has passed
    tokens_used: int = 0
    stop_reason: str | None = None
    error: str | None = None
    finished: bool = False
    caveats: list[str] = field(default_factory=list)  # said once, in the header
    plan_note: str | None = None  # why the ideas are not (all) the model's
    clock_floor: float = 0.0  # the clock shown last: it never goes back

    def apply(self, event: Event) -> None:
        """Fold one progress event into the view."""
        name = event.get("event")
        if name == "run_started":
            self.branches = event.get("branches", self.branches)
            self.minutes = event.get("minutes", self.minutes)
            self.max_rounds = event.get("rounds", self.max_rounds)
            if self.minutes is not None and self.deadline is None:  # the caller's is exact
                self.deadline = event["time"] + 60 * self.minutes
        elif name == "plan_ready":
            self.ideas = list(event.get("ideas") or [])
            self.branches = len(self.ideas) or self.branches
            self.plan_note = plan_note(event)
            self.tokens_used += event.get("tokens") or 0
        elif name == "candidate_generated":  # tokens as they are spent; `budget` has the sum
            self._row(event).status = "verifying"
            self.tokens_used += event.get("tokens") or 0
        elif name == "round_started":
            self.round = event["round"]
            for branch in range(self.branches):
                self.rows.setdefault((self.round, branch), Row(branch, self.round))
        elif name == "generation_failed":
            row = self._row(event)
            row.status, row.kind, row.headline = ("no candidate", event.get("kind", ""),
                                                  event.get("message", ""))
            self.latest_failure = {"id": "", "status": "no candidate", **event}
        elif name == "attempt_failed":
            row = self._row(event)
            row.kind, row.headline = event.get("kind", ""), event.get("message", "")
            row.failed_tries += 1
        elif name == "time_added":  # a new budget: its clock starts again
            self.minutes, self.finished, self.clock_floor = event["minutes"], False, 0.0
            self.deadline = event["time"] + event["seconds_left"]
        elif name == "candidate_verified":
            row = self._row(event)
            row.status, row.kind = event["status"], event.get("kind", "")
            row.headline, row.speedup, row.id = (self._said_once(event.get("headline", "")),
                                                 event.get("speedup"), event["id"])
            if event["status"] != "pass":
                self.latest_failure = dict(event)
            elif self.best is None:  # new_best comes when the round ends, if the best changed
                self.best = {**event, "headline": row.headline}
        elif name == "new_best" and event.get("status") == "pass":
            self.best = {**event, "headline": self._said_once(event.get("headline", ""))}
        elif name == "budget":
            self.tokens_used = max(self.tokens_used, event.get("tokens_used", 0))
            if event.get("seconds_left") is not None and self.deadline is None:
                self.deadline = event["time"] + event["seconds_left"]
            if event.get("rounds_left") is not None:
                self.max_rounds = event["round"] + event["rounds_left"]
        elif name == "finished":
            self.finished = True
            chosen = next((r for r in self.rows.values() if r.id and r.id == event.get("chosen")),
                          None)
            if chosen is not None:
                self.best = {"id": chosen.id, "round": chosen.round, "branch": chosen.branch,
                             "speedup": chosen.speedup, "headline": chosen.headline}
            self.stop_reason = self._said_once(event.get("stop_reason") or "") or None
            self.error = event.get("error")

    def seed(self, values: dict[str, Any], kinds: dict[str, str] | None = None,
             attempts: Iterable[Event] = ()) -> None:
        """Start from a checkpointed search's state (a resumed run): its rounds, candidates,
        failures, ideas and budget, as the events that made them would have left the view.
        `kinds` maps candidate ids to the class of their verdict; `attempts` are the run
        directory's failed attempts (attempts.jsonl)."""
        kinds = kinds or {}
        branches = values.get("branches") or {}
        self.ideas = [branches[key]["idea"] for key in sorted(branches, key=int)] or self.ideas
        self.branches = len(self.ideas) or self.branches
        self.round = values.get("round", 0)
        for number in range(1, self.round + 1):
            for branch in range(self.branches):
                self.rows.setdefault((number, branch), Row(branch, number))
        for attempt in attempts:
            self.apply({"event": "attempt_failed", **attempt})
        for failure in values.get("failures") or []:
            self.apply({"event": "generation_failed", **failure})
            row = self.rows[(failure["round"], failure["branch"])]
            row.failed_tries = max(0, row.failed_tries - 1)  # its last try is the failure
        for candidate in values.get("candidates") or []:
            self.apply({"event": "candidate_verified", **candidate,
                        "kind": kinds.get(candidate["id"], "")})
        best = values.get("best")
        if best is not None:
            self.apply({"event": "new_best", **best})
        self.tokens_used = values.get("tokens_used", self.tokens_used)
        self.max_rounds = values.get("max_rounds", self.max_rounds)
        if values.get("deadline"):
            self.deadline = values["deadline"]
            if self.minutes is None and values.get("started_at"):
                self.minutes = (values["deadline"] - values["started_at"]) / 60
        if values.get("stop_reason"):
            self.apply({"event": "finished", "stop_reason": values["stop_reason"],
                        "error": values.get("error")})

    def _said_once(self, text: str) -> str:
        """`text` without its machine-wide caveat, which the header says (once)."""
        head, caveat = split_caveat(text)
        if caveat is not None and caveat not in self.caveats:
            self.caveats.append(caveat)
        return head

    def _row(self, event: Event) -> Row:
        key = (event["round"], event["branch"])
        return self.rows.setdefault(key, Row(event["branch"], event["round"]))

    def render(self, now: float) -> RenderableType:
        """The whole display at time `now`."""
        parts: list[RenderableType] = [self._header(), *self._notes(), self._budget(now)]
        if self.ideas:
            parts.append(_line("\n".join(f"  branch {i}: {idea}"
                                         for i, idea in enumerate(self.ideas)), "dim"))
        if self.plan_note:
            parts.append(_line(f"  {self.plan_note}", "yellow"))
        parts.append(self._table())
        parts.append(self._best())
        if self.finished and self.stop_reason:
            parts.append(_wrapped(f"stopped: {self.stop_reason}", "bold"))
        return Group(*parts)

    def _header(self) -> Text:
        text = Text.assemble(("kernel-agent solve ", "bold"), self.problem)
        if self.round:
            of = f" of {self.max_rounds}" if self.max_rounds else ""
            text.append(f"   round {self.round}{of}", style="bold cyan")
        if self.finished:
            text.append("   finished", style="bold")
        return text

    def _notes(self) -> list[Text]:
        return [_wrapped(caveat, "dim") for caveat in self.caveats]

    def _budget(self, now: float) -> RenderableType:
        grid = Table.grid(padding=(0, 1))
        used = self.time_used(now)
        total = 60 * self.minutes if self.minutes else None
        bar = ProgressBar(total=total or 1.0, completed=used if used is not None else 0.0,
                          width=BAR_WIDTH)
        clock = (f"{_clock(used)} / {_clock(total)}" if used is not None and total
                 else "time: not known yet")
        grid.add_row("budget", bar, clock, self._rounds(), f"tokens {self.tokens_used}")
        return grid

    def _rounds(self) -> str:
        """`round 2/5` while round 2 runs (never `rounds 0` while round 1 does); once the
        search is over, how many rounds it ran."""
        if self.finished:
            return f"{self.round} round(s) run"
        of = f"/{self.max_rounds}" if self.max_rounds else ""
        return f"round {self.round}{of}" if self.round else "planning"

    def time_used(self, now: float) -> float | None:
        """Seconds of the budget used at `now`, when the deadline is known; never less than
        what was shown before (estimates of the deadline that come later may differ)."""
        if self.deadline is None or not self.minutes:
            return None
        total = 60 * self.minutes
        used = min(total, max(self.clock_floor, total - (self.deadline - now)))
        self.clock_floor = used
        return used

    def rounds_done(self) -> int:
        """Rounds whose candidates all have an outcome."""
        if not self.round:
            return 0
        current = [r for (n, _), r in self.rows.items() if n == self.round]
        done = current and all(r.status in ("pass", "fail", "no candidate") for r in current)
        return self.round if done else self.round - 1

    def _table(self) -> Table:
        """One line per row: a long headline is cut with an ellipsis to the width there is.
        The class of a verdict starts its headline already ("wrong output: ..."); a row without
        a candidate names the fault's class before its message."""
        rows = [self.rows[key] for key in sorted(self.rows)]
        hidden = max(0, len(rows) - ROWS_SHOWN)
        table = Table(caption=f"{hidden} earlier candidate(s) not shown" if hidden else None,
                      expand=False)
        for column in ("at", "status", "headline", "speedup"):
            # only the headline column gives up width; its cells cut instead of wrapping
            table.add_column(column, no_wrap=column != "headline",
                             min_width=12 if column == "headline" else None)
        for row in rows[hidden:]:
            status = _status(row.status)
            if row.failed_tries:
                status.append(f" ({row.failed_tries} failed)", style="yellow")
            headline = (f"{row.kind}: {row.headline}" if row.kind and not row.id
                        else row.headline)
            at = f"r{row.round} b{row.branch}" if row.round else "memory"
            table.add_row(at, status, _line(headline, ""),
                          _speed(row.status, row.speedup))
        return table

    def _best(self) -> Text:
        """The best passing candidate; until one passes, the latest failure, called that."""
        if self.best is not None:
            best = self.best
            text = Text.assemble(
                ("best so far: ", "bold"), f"{best['id']} ({_speed('pass', best.get('speedup'))}"
                f"), round {best['round']} branch {best['branch']}: "
                f"{_one_line(best.get('headline', ''))}")
        elif self.latest_failure is not None:
            failed = self.latest_failure
            what = failed["id"] or f"round {failed['round']} branch {failed['branch']}"
            kind = failed.get("kind") or failed["status"]
            said = _one_line(failed.get("headline") or failed.get("message", ""))
            text = Text.assemble(("best so far: none passed yet", "bold yellow"),
                                 f"; latest failure: {what} ({kind}): {said}")
        else:
            text = Text("best so far: none yet", style="dim")
        text.no_wrap, text.overflow = True, "ellipsis"
        return text


def plan_note(event: Event) -> str | None:
    """Why the branches' ideas are not (all) the model's: its call failed, or its reply held
    no list of ideas that could be read."""
    note = PLAN_SOURCES.get(event.get("source", "model"))
    if note is None:
        return None
    return f"{note} ({event['error']})" if event.get("error") else note


def _line(text: str, style: str) -> Text:
    """Text on one line, cut with an ellipsis at the terminal's edge instead of wrapping; an
    endpoint's error message comes with notes on lines of their own, folded in here."""
    return Text(_one_line(text), style=style, no_wrap=True, overflow="ellipsis")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _wrapped(text: str, style: str) -> Text:
    """Text wrapped between words, also on a console that otherwise leaves wrapping to the
    terminal (the solve command's)."""
    return Text(text, style=style, no_wrap=False, overflow="fold")


class EventLines:
    """The plain lines of a run where there is no terminal to redraw: one per notable event,
    and a machine-wide caveat once, before the first line it would have ended."""

    def __init__(self) -> None:
        self.caveats: set[str] = set()

    def lines(self, event: Event) -> list[str]:
        line = line_for(event)
        if line is None:
            return []
        _, caveat = split_caveat(event.get("headline") or event.get("stop_reason") or "")
        if caveat is None or caveat in self.caveats:
            return [line]
        self.caveats.add(caveat)
        return [f"note: {caveat}", line]


def line_for(event: Event) -> str | None:
    """One plain line for a notable event, None for the others (e.g. critic_done, or a best
    that has not passed). Machine-wide caveats are left out (`EventLines` says them once)."""
    name = event.get("event")
    if name == "run_started":
        rounds = f", at most {event['rounds']} rounds" if event.get("rounds") else ""
        return (f"started {event['problem']}: {event['branches']} branch(es), budget "
                f"{event['minutes']:g} min{rounds} ({event.get('mode', 'auto')})")
    if name == "plan_ready":
        ideas = "; ".join(f"{i}: {_cut(idea, 60)}" for i, idea in enumerate(event["ideas"]))
        note = plan_note(event)
        return f"plan ({event.get('source', '?')}): {ideas}" + (f" ({note})" if note else "")
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
        headline = split_caveat(event.get("headline", ""))[0]
        return (f"round {event['round']} branch {event['branch']}: {event['status'].upper()}"
                f"{kind} {event['id']}: {_cut(headline, HEADLINE_CHARS)} "
                f"(speedup {_speed(event['status'], event.get('speedup'))}, verified in "
                f"{event.get('verify_s', 0):.1f} s{reused})")
    if name == "new_best" and event.get("status") == "pass":
        return f"new best: {event['id']} ({_speed('pass', event.get('speedup'))})"
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
        return f"finished: {split_caveat(event.get('stop_reason') or 'stopped')[0]}"
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
