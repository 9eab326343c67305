"""Per-problem overhead of `eval --ray` against the local worker pool, evaluate-only, same suite.

The project's KernelBench-format suite (its problems --copies times under new numbers, as in
benchmarks/multi_gpu.py) runs three times with N workers: on the local pool (`--workers N`, or
one per GPU of --gpus), then twice on a Ray cluster of N CPUs (or those GPUs) that the script
starts on this machine: first with cold Ray workers (each starts its sandbox inside its first
task), then again on the same workers. On GPUs an untimed pass first fills the baseline cache,
so that no timed run measures eager and torch.compile baselines. A problem's overhead is its
time from claim to recorded outcome, as the results file holds it, less its verification (the
attempt's own start and end): the scheduling, transfer and recording around the verifier.
Verdicts must equal the local pool's.

    python benchmarks/ray_eval.py [--workers N] [--copies C] [--gpus 0,1] [--out DIR]
                                  [--markdown FILE]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the suite replicator and the verdict comparison live there

from benchmarks.multi_gpu import CANDIDATES, SUITE, markdown_table, replicate  # noqa: E402
from kernel_agent.evals.launch import EvalOptions, launch  # noqa: E402
from kernel_agent.evals.options import parse_gpus  # noqa: E402
from kernel_agent.evals.results import load_results  # noqa: E402
from kernel_agent.sandbox.gpus import discover_gpus  # noqa: E402
from tests.evals.parallel import decisions  # noqa: E402

HEAD = ["run", "workers", "problems", "wall s", "work s", "problem s (median)",
        "verify s (median)", "overhead ms (median)", "overhead ms (p90)", "overhead ms (max)",
        "verdicts = local pool"]


def overheads(run_dir: Path) -> dict[str, Any]:
    """Per verified problem: claim-to-outcome seconds, verification seconds, and the rest."""
    results = load_results(run_dir)
    spans, verifies, rest = [], [], []
    for row in results.problem_rows:
        attempts = results.attempts_of(row["id"])
        if len(attempts) != 1 or attempts[0]["started_at"] is None:
            continue  # no verification to subtract (no candidate, or a search)
        span = row["finished_at"] - row["started_at"]
        verify = attempts[0]["finished_at"] - attempts[0]["started_at"]
        spans.append(span)
        verifies.append(verify)
        rest.append(span - verify)
    done = [r for r in results.problem_rows if r["state"] == "done"]
    return {"problems": len(done), "span": spans, "verify": verifies, "rest": rest,
            "work_s": max(r["finished_at"] for r in done) - min(r["started_at"] for r in done)}


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]


def row(label: str, workers: int, wall: float, measured: dict[str, Any],
        same: str) -> list[str]:
    rest = measured["rest"]
    return [label, str(workers), str(measured["problems"]), f"{wall:.1f}",
            f"{measured['work_s']:.1f}", f"{statistics.median(measured['span']):.2f}",
            f"{statistics.median(measured['verify']):.2f}",
            f"{1000 * statistics.median(rest):.0f}", f"{1000 * p90(rest):.0f}",
            f"{1000 * max(rest):.0f}", same]


def timed_run(options: EvalOptions) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    launch(options)
    return time.perf_counter() - started, overheads(options.out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2,
                        help="CPU workers, and the Ray cluster's CPUs (without --gpus)")
    parser.add_argument("--gpus", help="GPU indices for the local pool and the Ray cluster")
    parser.add_argument("--copies", type=int, default=4, help="take every problem this often")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per verification")
    parser.add_argument("--out", type=Path, help="where the runs go [default: a temp dir]")
    parser.add_argument("--markdown", type=Path, help="append a dated section to this file")
    args = parser.parse_args()
    try:
        gpus = parse_gpus(args.gpus, discover_gpus()) if args.gpus else []
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    workers = len(gpus) or args.workers
    out = args.out or Path(tempfile.mkdtemp(prefix="ray-eval-"))
    os.environ["KERNEL_AGENT_CACHE"] = str(out / "cache")  # the Ray workers inherit it
    suite, candidates, count = replicate(SUITE, CANDIDATES, args.copies, out / "suite")
    console = Console()
    if not console.is_terminal:
        console.width = 200
    console.print(f"{count} problems ({args.copies} x {SUITE.name}), {workers} worker(s); "
                  f"runs in {out}")

    def options(name: str, ray: str | None) -> EvalOptions:
        return EvalOptions(suite=str(suite), out=out / name, candidates=candidates, gpus=gpus,
                           cpu_workers=args.workers, timeout_s=args.timeout, ray=ray)

    if gpus:  # fill the baseline cache, so that no timed run measures baselines
        console.print("measuring baselines (not timed)")
        launch(EvalOptions(suite=str(SUITE), out=out / "baselines", candidates=CANDIDATES,
                           gpus=gpus, timeout_s=args.timeout))
    wall, local = timed_run(options("local", None))
    reference = decisions(out / "local")
    rows = [row("local pool", workers, wall, local, "reference")]

    import ray

    if gpus:  # Ray hands out these GPUs, by the same indices
        os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, sorted(set(gpus))))
    started = time.perf_counter()
    ray.init(num_cpus=None if gpus else workers, num_gpus=len(set(gpus)) if gpus else None,
             include_dashboard=False, log_to_driver=False)
    cluster_s = time.perf_counter() - started
    try:
        for name, label in (("ray-cold", "Ray, cold workers"), ("ray-warm", "Ray, warm workers")):
            wall, measured = timed_run(options(name, ""))
            same = decisions(out / name) == reference
            rows.append(row(label, workers, wall, measured, "yes" if same else "NO"))
    finally:
        ray.shutdown()

    device = "GPU " + ",".join(map(str, gpus)) if gpus else "CPU (Triton interpreter)"
    table = Table(*HEAD, title=f"Evaluate-only, {count} problems, {device}")
    for cells in rows:
        table.add_row(*cells)
    console.print(table)
    notes = (f"Ray cluster start-up (ray.init, not in the runs): {cluster_s:.1f} s. Overhead = "
             "claim to recorded outcome, less the verification, per problem with one attempt. "
             f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}.")
    console.print(notes)
    if args.markdown:
        with open(args.markdown, "a") as f:
            f.write(f"\n### Ray against the local pool ({date.today().isoformat()})\n\n"
                    f"Suite: {SUITE.name} x {args.copies} ({count} problems); device: {device}; "
                    f"{notes}\n\n{markdown_table(HEAD, rows)}\n")


if __name__ == "__main__":
    main()
