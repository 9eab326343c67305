"""The run's report, rebuilt from results.sqlite alone: JSON, CSV, Markdown, HTML and figures.

`build_report` turns the recorded rows into one JSON-able dict (headline metrics for the whole
run and per level, the scaling curve, a row per problem); every other format is drawn from that
dict, so the numbers in report.md, report.html and the CSVs are the same numbers by construction.
Each problem row links (relative to the run directory) to its kernel and to the verdict of its
best attempt, written to `problems/<id>/verdict.json`; in generate mode the best attempt's code
is written next to it as `kernel.py`, and the row links the problem's search directory too.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from kernel_agent.evals.figures import draw_figures
from kernel_agent.evals.metrics import CurvePoint, Share, scaling_curve, summary
from kernel_agent.evals.render import render_html, render_markdown
from kernel_agent.evals.results import RunResults, load_results, reached_compilation

REPORT_JSON = "report.json"
PROBLEMS_CSV = "problems.csv"
ATTEMPTS_CSV = "attempts.csv"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
FIGURES = "figures"
PROBLEM_FILES = "problems"
SEARCHES = "searches"  # generate mode: one search directory per problem (evals/generate.py)
VERDICT_FILE = "verdict.json"
KERNEL_FILE = "kernel.py"
PROBLEM_COLUMNS = (
    "id", "level", "number", "name", "outcome", "status", "compiled", "numerically_correct",
    "correct", "speedup_eager", "speedup_compiled", "flags", "attempts", "first_correct_s",
    "verify_s", "baseline_s", "baseline_cached", "stage", "error_kind", "error", "message",
    "candidate", "kernel", "verdict", "search", "prompt_tokens", "completion_tokens", "device")
ATTEMPT_COLUMNS = (
    "problem", "attempt", "candidate", "started_at", "finished_at", "elapsed_s", "status",
    "compiled", "correct", "speedup_eager", "speedup_compiled", "flags", "error_kind", "tokens")
MESSAGE_CHARS = 300
ERROR_CHARS = 160  # the short error of a problem row


def jsonable(value: Any) -> Any:
    """Shares become {count, total, share}; float keys (the p of fast_p) become fast_<p>."""
    if isinstance(value, Share):
        return {"count": value.count, "total": value.total, "share": value.value}
    if isinstance(value, CurvePoint):
        return jsonable(vars(value))
    if isinstance(value, dict):
        return {(f"fast_{k:g}" if isinstance(k, float) else str(k)): jsonable(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def build_report(results: RunResults) -> dict[str, Any]:
    meta = results.meta
    prices = tuple(meta["prices"]) if meta.get("prices") else None
    problems = results.problems
    levels = sorted({p.level for p in problems if p.level is not None})
    verdicts = [a["verdict"] for a in results.attempt_rows]
    settings = meta.get("settings", {})
    return jsonable({
        "run": {
            "dir": str(results.run_dir), "created": meta.get("created"),
            "suite": settings.get("suite"), "mode": settings.get("mode"), "settings": settings,
            "model": meta.get("model"), "prices_per_mtok": meta.get("prices"),
            "problems": len(results.problem_rows), "finished": len(problems),
            "unfinished": results.unfinished,
            "devices": sorted({v["device"]["name"] for v in verdicts
                               if (v.get("device") or {}).get("name")}),
            "torch": sorted({v["device"]["torch"] for v in verdicts
                             if (v.get("device") or {}).get("torch")}),
            "not_measured": not_measured(verdicts),
            "unmatched_candidates": meta.get("unmatched_candidates", []),
        },
        "headline": summary(problems, prices),
        "levels": {level: summary([p for p in problems if p.level == level], prices)
                   for level in levels},
        "scaling_curve": scaling_curve(problems, settings.get("budget_minutes")),
        "problems": [problem_row(row, results) for row in results.problem_rows],
    })


def not_measured(verdicts: list[dict[str, Any]]) -> dict[str, str]:
    """What the verifier said it could not measure, and why (first reason per item)."""
    reasons: dict[str, str] = {}
    for verdict in verdicts:
        if verdict.get("status") == "bad_input":
            continue
        for what, why in (verdict.get("not_measured") or {}).items():
            reasons.setdefault(what, why)
    return reasons


def problem_row(row: dict[str, Any], results: RunResults) -> dict[str, Any]:
    """One problem as the report shows it; its best attempt speaks for it."""
    attempts = results.attempts_of(row["id"])
    record = next((p for p in results.problems  # bad input: nothing to say about the kernel
                   if p.id == row["id"] and p.outcome != "bad_input"), None)
    best = best_attempt(attempts)
    verdict = best["verdict"] if best else {}
    timing = verdict.get("timing") or {}
    error = verdict.get("error") or {}
    flags = sorted({f["name"] for a in attempts for f in a["verdict"].get("flags", [])})
    verify = [a["finished_at"] - a["started_at"] for a in attempts if a["started_at"]]
    message = row["message"] or ""
    return {
        "id": row["id"], "level": row["level"], "number": row["number"], "name": row["name"],
        "outcome": row["outcome"] if row["state"] == "done" else row["state"],
        "status": verdict.get("status"),
        "compiled": record.compiled if record else None,
        "numerically_correct": record.numerically_correct if record else None,
        "correct": record.correct if record else None,
        "speedup_eager": record.speedup("eager") if record else None,
        "speedup_compiled": record.speedup("compiled") if record else None,
        "flags": flags, "attempts": len(attempts),
        "first_correct_s": record.first_correct_s() if record else None,
        "verify_s": round(sum(verify), 3) if verify else None,
        "baseline_s": timing.get("baseline_seconds"),
        "baseline_cached": timing.get("baseline_cached"),
        "stage": verdict.get("stage"),
        "error_kind": error.get("kind"),
        "error": short_error(row, verdict),
        "message": message if len(message) <= MESSAGE_CHARS else message[:MESSAGE_CHARS] + "...",
        "candidate": row["candidate"], **links(row, best, results),
        "prompt_tokens": row["prompt_tokens"], "completion_tokens": row["completion_tokens"],
        "device": (verdict.get("device") or {}).get("name"),
    }


def short_error(row: dict[str, Any], verdict: dict[str, Any]) -> str | None:
    """What went wrong, in a line: the error's kind and the first line of its message, the
    integrity flags that rejected a right answer, or the worst wrong value."""
    error = verdict.get("error") or {}
    if error:
        first = (error.get("message") or "").strip().splitlines()
        text = f"{error['kind']}: {first[0]}" if first else error["kind"]
    elif row["outcome"] in ("no_candidate", "error", "bad_input") and row["message"]:
        text = f"{row['outcome']}: {row['message']}"
    elif verdict.get("status") == "fail" and verdict.get("correct") is False:
        wrong = next((t for t in verdict.get("trials", []) if not t["passed"]), None)
        text = ("wrong values" + (f": max abs error {wrong['max_abs_error']:.3g} at "
                                  f"{wrong['worst_index']}" if wrong else ""))
    elif verdict.get("status") == "fail":
        text = "rejected: " + ", ".join(f["name"] for f in verdict.get("flags", [])
                                        if f.get("severity") == "reject")
    else:
        return None
    return text if len(text) <= ERROR_CHARS else text[:ERROR_CHARS - 3] + "..."


def problem_folder(problem: str) -> Path:
    """Where a problem's files go in the run directory (ids hold a slash: level1/19_ReLU)."""
    return Path(problem.replace("/", "__"))


def links(row: dict[str, Any], best: dict[str, Any] | None,
          results: RunResults) -> dict[str, str | None]:
    """The row's kernel, verdict and search directory, relative to the run directory; None
    where there is none (no attempt, or the code of a generated kernel was not kept)."""
    folder = problem_folder(row["id"])
    search = results.run_dir / SEARCHES / folder
    kernel: str | None = None
    if row["candidate"] and Path(row["candidate"]).is_file():
        kernel = os.path.relpath(Path(row["candidate"]).resolve(), results.run_dir.resolve())
    elif best is not None and generated_code(search, best["candidate"]) is not None:
        kernel = str(PROBLEM_FILES / folder / KERNEL_FILE)
    return {"kernel": kernel,
            "verdict": str(PROBLEM_FILES / folder / VERDICT_FILE) if best else None,
            "search": str(SEARCHES / folder) if search.is_dir() else None}


def generated_code(search: Path, candidate: str) -> str | None:
    """The source of candidate `candidate` from its search's candidates.jsonl, if kept."""
    try:
        lines = (search / "candidates.jsonl").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a line torn by a kill
        if entry.get("id") == candidate:
            return entry.get("code")
    return None


def best_attempt(attempts: list[dict[str, Any]]) -> dict[str, Any] | None:
    return max(attempts, key=rank, default=None)


def rank(attempt: dict[str, Any]) -> tuple[bool, float, bool, bool]:
    """Passing first, then the fastest, then numerically correct, then built."""
    passed = attempt["status"] == "pass"
    return (passed, (attempt["speedup_eager"] or 0.0) if passed else 0.0,
            bool(attempt["correct"]), reached_compilation(attempt["verdict"]))


def write_problem_files(results: RunResults, rows: list[dict[str, Any]]) -> None:
    """The files the problem rows link to: each best attempt's verdict, and in generate mode
    its code."""
    for row in rows:
        if row["verdict"] is None:
            continue
        best = best_attempt(results.attempts_of(row["id"]))
        assert best is not None
        folder = results.run_dir / PROBLEM_FILES / problem_folder(row["id"])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / VERDICT_FILE).write_text(json.dumps(
            {"problem": row["id"], "candidate": best["candidate"], **best["verdict"]},
            indent=2) + "\n")
        if row["kernel"] == str(PROBLEM_FILES / problem_folder(row["id"]) / KERNEL_FILE):
            code = generated_code(results.run_dir / SEARCHES / problem_folder(row["id"]),
                                  best["candidate"])
            (folder / KERNEL_FILE).write_text(code or "")


def write_csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ";".join(v) if isinstance(v, list) else v for k, v in row.items()})


def attempt_csv_row(row: dict[str, Any]) -> dict[str, Any]:
    verdict = row["verdict"]
    return {**{k: row[k] for k in ATTEMPT_COLUMNS if k in row},
            "flags": [f["name"] for f in verdict.get("flags", [])],
            "error_kind": (verdict.get("error") or {}).get("kind")}


def write_report(run_dir: Path) -> dict[str, Path]:
    """Write every report file of the run in `run_dir`; their paths by kind."""
    run_dir = Path(run_dir)
    results = load_results(run_dir)
    report = build_report(results)
    paths = {"json": run_dir / REPORT_JSON, "problems_csv": run_dir / PROBLEMS_CSV,
             "attempts_csv": run_dir / ATTEMPTS_CSV, "markdown": run_dir / REPORT_MD,
             "html": run_dir / REPORT_HTML}
    paths["json"].write_text(json.dumps(report, indent=2) + "\n")
    write_problem_files(results, report["problems"])
    write_csv(paths["problems_csv"], PROBLEM_COLUMNS, report["problems"])
    write_csv(paths["attempts_csv"], ATTEMPT_COLUMNS,
              [attempt_csv_row(row) for row in results.attempt_rows])
    figures = draw_figures(report, run_dir / FIGURES)
    paths["markdown"].write_text(render_markdown(report, figures, run_dir))
    paths["html"].write_text(render_html(report, figures))
    return {**paths, **{f"figure_{name}": path for name, path in figures.items()}}
