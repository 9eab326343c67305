"""Evaluate-only on the project's KernelBench-format suite, with real timing on a GPU.

Runs `kernel-agent eval SUITE --candidates DIR` twice on the same fresh baseline cache: a cold
pass, where each problem pays for measuring its eager and torch.compile baselines, and a warm
pass that reuses them (the usual case when generations are re-judged). Prints the seconds each
problem took in both passes, the baseline seconds, the speedups, and the report's headline table
of the warm pass; --markdown writes the same for benchmarks/RESULTS.md.

    python benchmarks/eval_suite.py [--suite DIR] [--candidates DIR] [--gpus 0,1] [--out DIR]
                                    [--markdown FILE]

Without a GPU it still runs (under the Triton interpreter) and says that speed was not measured.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from kernel_agent.evals.launch import EvalOptions, launch
from kernel_agent.evals.options import parse_gpus
from kernel_agent.evals.progress import RichProgress
from kernel_agent.evals.render import headline_rows
from kernel_agent.evals.report import build_report
from kernel_agent.evals.results import load_results
from kernel_agent.sandbox.gpus import discover_gpus

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "tests" / "data" / "kernelbench" / "KernelBench"
CANDIDATES = ROOT / "tests" / "data" / "kernelbench" / "candidates"
PER_PROBLEM = ["problem", "status", "cold s", "baseline s", "warm s", "kernel ms", "eager ms",
               "compile ms", "vs eager", "vs compile", "flags"]


def one_pass(args: argparse.Namespace, gpus: list[int], run_dir: Path,
             console: Console) -> dict[str, Any]:
    options = EvalOptions(suite=str(args.suite), out=run_dir, candidates=args.candidates,
                          gpus=gpus, timeout_s=args.timeout)
    started = time.perf_counter()
    launch(options, RichProgress(console))
    report = build_report(load_results(run_dir))
    report["wall_s"] = time.perf_counter() - started
    return report


def number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def per_problem_rows(cold: dict[str, Any], warm: dict[str, Any],
                     run_dir: Path) -> list[list[str]]:
    verdicts = {row["problem"]: row["verdict"] for row in load_results(run_dir).attempt_rows}
    warm_rows = {p["id"]: p for p in warm["problems"]}
    rows = []
    for problem in cold["problems"]:
        later = warm_rows[problem["id"]]
        timing = (verdicts.get(problem["id"]) or {}).get("timing") or {}
        stats = {k: (timing.get(k) or {}).get("median_ms") for k in
                 ("candidate", "eager", "compiled")}
        rows.append([problem["id"], later["status"] or problem["outcome"],
                     number(problem["verify_s"], 1), number(problem["baseline_s"], 1),
                     number(later["verify_s"], 1), number(stats["candidate"], 3),
                     number(stats["eager"], 3), number(stats["compiled"], 3),
                     number(later["speedup_eager"]), number(later["speedup_compiled"]),
                     ", ".join(later["flags"]) or "-"])
    return rows


def show(title: str, header: list[str], rows: list[list[str]], console: Console) -> None:
    table = Table(title=title)
    for column in header:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", type=Path, default=SUITE)
    parser.add_argument("--candidates", type=Path, default=CANDIDATES)
    parser.add_argument("--gpus", help="GPU indices, e.g. 0,1, or 'cpu' [default: all found]")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--out", type=Path, help="where the two runs go [default: a temp dir]")
    parser.add_argument("--markdown", type=Path, help="also write the tables here")
    args = parser.parse_args()
    console = Console()
    if not console.is_terminal:
        console.width = 180  # a log file gets the tables unwrapped
    out = args.out or Path(tempfile.mkdtemp(prefix="eval-suite-"))
    os.environ["KERNEL_AGENT_CACHE"] = str(out / "cache")  # cold baselines in the first pass
    gpus = parse_gpus(args.gpus, discover_gpus())
    console.print(f"GPUs: {gpus}" if gpus else "[yellow]no GPU found through NVML (is "
                  "nvidia-ml-py installed?) or --gpus cpu: correctness only, under the Triton "
                  "interpreter; speed will not be measured")
    cold = one_pass(args, gpus, out / "cold", console)
    warm = one_pass(args, gpus, out / "warm", console)
    rows = per_problem_rows(cold, warm, out / "warm")
    show("Per problem (seconds; kernel times from the warm pass)", PER_PROBLEM, rows, console)
    levels = warm["levels"]
    head = ["metric", "all", *(f"level {k}" for k in levels)]
    headline = headline_rows([warm["headline"], *levels.values()])
    show(f"Headline ({', '.join(warm['run']['devices'])})", head, headline, console)
    console.print(f"wall time: cold pass {cold['wall_s']:.1f} s, warm pass "
                  f"{warm['wall_s']:.1f} s; runs in {out}")
    if args.markdown:
        args.markdown.write_text(
            f"Date: {date.today()}; device: {', '.join(warm['run']['devices'])}; torch "
            f"{', '.join(warm['run']['torch'])}; wall time: cold {cold['wall_s']:.1f} s, warm "
            f"{warm['wall_s']:.1f} s.\n\n{markdown(PER_PROBLEM, rows)}\n\n"
            f"{markdown(head, headline)}\n")


if __name__ == "__main__":
    main()
