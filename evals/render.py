"""report.md and report.html, written from one list of blocks so both always say the same.

`document()` decides what the report says (headline table, what was not measured and why,
integrity flags, figures, a row per problem with links to its kernel and verdict);
`render_markdown` and `render_html` only decide how it looks. The HTML embeds its figures, so the
file can be mailed or attached on its own; its links are relative to the run directory.

What measures a search — the inference-time scaling curve, time to first correct kernel,
tokens and cost — appears only for generate runs: in an evaluate-only run an attempt's time is
its verification time, which says nothing about how fast an agent found a kernel.
"""

from __future__ import annotations

import base64
import html
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from kernel_agent.evals.metrics import BASELINES, P_VALUES

BASELINE_LABELS = {"eager": "eager", "compiled": "torch.compile"}
GENERATE_ONLY_ROWS = ("time to first correct kernel (median)", "tokens (prompt + completion)",
                      "cost")
FIGURE_CAPTIONS = {
    "scaling": "Share of problems correct (and fast_1) against minutes from each problem's start",
    "speedup": "Speedups of the correct kernels, per level",
    "outcomes": "Outcome of every problem, per level",
}
NOT_MEASURED = "not measured"


@dataclass(frozen=True)
class Link:
    """A table cell's link: its text and its target, relative to the run directory."""

    text: str
    href: str


Cell = str | list[Link]


@dataclass
class Block:
    """One piece of the report: a heading, a paragraph, a table or a figure."""

    kind: str  # h1, h2, p, table, figure
    text: str = ""  # a figure's caption
    header: list[str] = field(default_factory=list)
    rows: list[list[Cell]] = field(default_factory=list)
    path: Path | None = None  # a figure's PNG


def share_text(value: dict[str, Any] | None) -> str:
    if value is None:
        return NOT_MEASURED
    if not value["total"]:
        return "-"
    return f"{100 * value['share']:.1f}% ({value['count']}/{value['total']})"


def speed_text(value: float | None, measured: bool) -> str:
    if value is None:
        return "-" if measured else NOT_MEASURED
    return f"{value:.2f}x"


def seconds_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def headline_rows(groups: list[dict[str, Any]], mode: str | None = None) -> list[list[str]]:
    """The headline table's rows, one cell per group (the run, then each level); a search's
    own measures only for a generate run. KernelBench's fast_0 is the correct share, so it is
    the correct row, said once."""

    def row(label: str, cell: Any) -> list[str]:
        return [label, *(cell(g) for g in groups)]

    rows = [
        row("problems counted", lambda g: f"{g['counted']} of {g['problems']}"
            + (f" ({g['bad_input']} bad input)" if g["bad_input"] else "")),
        row("compiled", lambda g: share_text(g["compiled"])),
        row("correct (= fast_0)", lambda g: share_text(g["correct"])),
        row("numerically correct, before integrity checks",
            lambda g: share_text(g["numerically_correct"])),
    ]
    for baseline in BASELINES:
        for p in P_VALUES[1:]:
            key = f"fast_{p:g}"
            rows.append(row(f"{key} vs {BASELINE_LABELS[baseline]}",
                            lambda g, b=baseline, k=key: share_text(g["fast_p"][b][k])))
    for baseline in BASELINES:
        rows.append(row(f"geomean speedup vs {BASELINE_LABELS[baseline]}",
                        lambda g, b=baseline: speed_text(g["geomean_speedup"][b],
                                                         g["speed_measured"])))
    rows += [
        row("time to first correct kernel (median)",
            lambda g: seconds_text(g["first_correct"]["median_s"])
            + (f" over {g['first_correct']['problems']}" if g["first_correct"]["problems"]
               else "")),
        row("attempts", lambda g: str(g["attempts"])),
        row("tokens (prompt + completion)", lambda g: f"{g['tokens']['total']:,}"
            + (f" ({g['tokens']['requests']} requests)" if g["tokens"]["requests"] else "")),
        row("cost", lambda g: "-" if g["tokens"]["cost"] is None
            else f"{g['tokens']['cost']:.4f}"),
    ]
    if mode == "evaluate":
        rows = [r for r in rows if r[0] not in GENERATE_ONLY_ROWS]
    return rows


def document(report: dict[str, Any], figures: dict[str, Path]) -> list[Block]:
    run, headline = report["run"], report["headline"]
    levels = report["levels"]
    groups = [headline, *levels.values()]
    blocks = [
        Block("h1", f"Eval: {run['suite']} ({run['mode']})"),
        Block("p", f"Run {run['dir']}, created {run['created']}; {run['finished']} of "
                   f"{run['problems']} problems finished; device(s): "
                   f"{', '.join(run['devices']) or 'none recorded'}; torch "
                   f"{', '.join(run['torch']) or '?'}."),
        Block("h2", "Headline"),
        Block("table", header=["metric", "all", *(f"level {k}" for k in levels)],
              rows=headline_rows(groups, run["mode"])),
        Block("p", "Counted problems exclude those the verifier refused as bad input; a "
                   "problem without a candidate counts as a failure. compiled = the candidate "
                   "loaded, ModelNew was constructed and no compiler failed (a constructor "
                   "error is not compiled). correct = passed every check (numerically correct "
                   "on every trial, no rejecting integrity flag); it is also KernelBench's "
                   "fast_0. fast_p = share of counted problems both correct and more than p "
                   "times faster than the baseline; the geometric-mean speedup is over the "
                   "correct problems."),
    ]
    blocks += notes(report)
    flags = headline["flags"]
    if flags:
        blocks += [Block("h2", "Integrity flags"),
                   Block("table", header=["flag", "attempts", "problems"],
                         rows=[[name, str(c["attempts"]), str(c["problems"])]
                               for name, c in flags.items()])]
    blocks.append(Block("h2", "Figures"))
    blocks += [Block("figure", FIGURE_CAPTIONS[name], path=path)
               for name, path in figures.items()]
    blocks += [Block("h2", "Problems"), problems_table(report["problems"], headline, run["mode"])]
    return blocks


def notes(report: dict[str, Any]) -> list[Block]:
    """What was not measured, not counted or not finished, each with its reason."""
    run, rows = report["run"], report["problems"]
    found = []
    if run["unfinished"]:
        found.append(f"Unfinished ({len(run['unfinished'])}): {', '.join(run['unfinished'])}. "
                     "Metrics cover finished problems only; `--resume` completes the run.")
    if not report["headline"]["speed_measured"] and "timing" in run["not_measured"]:
        found.append(f"Speed not measured: {run['not_measured']['timing']}.")
    untimed = report["headline"]["untimed_correct"] or {}
    for baseline, count in untimed.items():
        if count:
            found.append(f"{count} correct problem(s) have no speedup vs "
                         f"{BASELINE_LABELS[baseline]}; they count as not fast.")
    unmatched = run.get("unmatched_candidates") or []
    if unmatched:
        found.append(f"{len(unmatched)} file(s) in the candidates folder matched no problem: "
                     f"{', '.join(unmatched)}.")
    for outcome, title in (("bad_input", "Not counted (bad input)"), ("error", "Errors"),
                           ("no_candidate", "No candidate")):
        listed = [f"{r['id']}: {r['message']}" for r in rows if r["outcome"] == outcome]
        if listed:
            found.append(f"{title}: " + "; ".join(listed))
    return [Block("h2", "Notes"), *(Block("p", text) for text in found)] if found else []


def problems_table(rows: list[dict[str, Any]], headline: dict[str, Any], mode: str) -> Block:
    measured = headline["speed_measured"]
    search = mode == "generate"

    def yes(value: bool | None) -> str:
        return "-" if value is None else ("yes" if value else "no")

    def files(r: dict[str, Any]) -> list[Link]:
        return [Link(name, r[key]) for name, key in (
            ("kernel", "kernel"), ("verdict", "verdict"), ("search", "search")) if r[key]]

    return Block("table", header=[
        "problem", "outcome", "compiled", "correct", "speedup eager", "speedup compile",
        "flags", "attempts", *(["first correct"] if search else []), "verify", "error",
        "files"],
        rows=[[r["id"], r["outcome"], yes(r["compiled"]), yes(r["correct"]),
               speed_text(r["speedup_eager"], measured or not r["correct"]),
               speed_text(r["speedup_compiled"], measured or not r["correct"]),
               ", ".join(r["flags"]) or "-", str(r["attempts"]),
               *([seconds_text(r["first_correct_s"])] if search else []),
               seconds_text(r["verify_s"]), r["error"] or "-", files(r)] for r in rows])


def render_markdown(report: dict[str, Any], figures: dict[str, Path], base: Path) -> str:
    def cell(value: Cell) -> str:
        if isinstance(value, list):
            return " ".join(f"[{link.text}](<{link.href}>)" for link in value) or "-"
        return value.replace("|", "\\|").replace("\n", " ")

    lines: list[str] = []
    for block in document(report, figures):
        if block.kind == "h1":
            lines += [f"# {block.text}", ""]
        elif block.kind == "h2":
            lines += [f"## {block.text}", ""]
        elif block.kind == "p":
            lines += [block.text, ""]
        elif block.kind == "table":
            lines.append("| " + " | ".join(map(cell, block.header)) + " |")
            lines.append("|" + "---|" * len(block.header))
            lines += ["| " + " | ".join(map(cell, row)) + " |" for row in block.rows]
            lines.append("")
        elif block.kind == "figure" and block.path is not None:
            lines += [f"![{block.text}]({os.path.relpath(block.path, base)})", ""]
    return "\n".join(lines)


STYLE = """body{font-family:system-ui,sans-serif;max-width:1400px;margin:2em auto;padding:0 1em}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;
text-align:left;vertical-align:top}th{background:#f3f3f3}td{overflow-wrap:break-word}
td:first-child{white-space:nowrap}td a{margin-right:.5em;white-space:nowrap}
figure img{max-width:100%}figcaption{color:#555}"""


def render_html(report: dict[str, Any], figures: dict[str, Path]) -> str:
    esc = html.escape
    parts = ["<!doctype html>", "<html><head><meta charset='utf-8'>",
             f"<title>{esc(report['run']['suite'] or 'eval')}</title>",
             f"<style>{STYLE}</style></head><body>"]
    for block in document(report, figures):
        if block.kind in ("h1", "h2", "p"):
            parts.append(f"<{block.kind}>{esc(block.text)}</{block.kind}>")
        elif block.kind == "table":
            head = "".join(f"<th>{esc(h)}</th>" for h in block.header)
            body = "".join("<tr>" + "".join(f"<td>{html_cell(c)}</td>" for c in row)
                           + "</tr>" for row in block.rows)
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif block.kind == "figure" and block.path is not None:
            data = base64.b64encode(block.path.read_bytes()).decode()
            parts.append(f"<figure><img alt='{esc(block.text)}' "
                         f"src='data:image/png;base64,{data}'>"
                         f"<figcaption>{esc(block.text)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def html_cell(value: Cell) -> str:
    if isinstance(value, list):
        return " ".join(f"<a href='{html.escape(quote(link.href))}'>{html.escape(link.text)}</a>"
                        for link in value) or "-"
    return html.escape(value)
