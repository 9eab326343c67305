"""Time from request to full verdict for KernelBench-sized level-1 problems, on a GPU.

For each problem under benchmarks/problems/: one cold verification (it measures and caches the
eager and torch.compile baselines), then REPEATS warm ones that reuse them. Prints a table of the
per-candidate latency (median of the warm runs), the one-time baseline cost, and how much the
candidate's own median kernel time moved across the runs (timing repeatability).

    python benchmarks/verifier_latency.py [--repeats 5] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.table import Table

from kernel_agent.sandbox import get_sandbox
from kernel_agent.tools.check import BaselineCache, check_files

PROBLEMS = Path(__file__).resolve().parent / "problems"


def measure(problem_dir: Path, repeats: int, cache: BaselineCache) -> dict:
    """Cold run, then `repeats` warm runs of the same candidate."""
    sandbox = get_sandbox("local")
    problem, kernel = problem_dir / "problem.py", problem_dir / "kernel.py"
    started = time.perf_counter()
    cold = check_files(problem, kernel, sandbox=sandbox, baselines=cache)
    cold_s = time.perf_counter() - started
    if cold.status != "pass" or cold.timing is None:
        return {"name": problem_dir.name, "error": cold.summary()}
    latencies, kernel_ms = [], [cold.timing.candidate.median_ms]
    for _ in range(repeats):
        started = time.perf_counter()
        warm = check_files(problem, kernel, sandbox=sandbox, baselines=cache)
        latencies.append(time.perf_counter() - started)
        assert warm.timing is not None and warm.timing.baseline_cached, warm.summary()
        kernel_ms.append(warm.timing.candidate.median_ms)
    sandbox.close()
    spread = (max(kernel_ms) - min(kernel_ms)) / statistics.median(kernel_ms)
    timing = cold.timing
    return {
        "name": problem_dir.name, "cold_s": cold_s, "warm_s": statistics.median(latencies),
        "warm_max_s": max(latencies), "baseline_s": timing.baseline_seconds or 0.0,
        "kernel_ms": statistics.median(kernel_ms), "spread": spread,
        "eager_ms": timing.eager.median_ms if timing.eager else None,
        "compiled_ms": timing.compiled.median_ms if timing.compiled else None,
        "speedup_eager": timing.speedup_eager, "speedup_compiled": timing.speedup_compiled,
        "device": cold.device.get("name"),
    }


def table_rows(results: list[dict]) -> list[list[str]]:
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["name"], "FAILED: " + r["error"].splitlines()[0]] + [""] * 7)
            continue
        rows.append([
            r["name"], f"{r['warm_s']:.2f}", f"{r['warm_max_s']:.2f}", f"{r['cold_s']:.2f}",
            f"{r['baseline_s']:.2f}", f"{r['kernel_ms']:.3f}", f"{r['spread']:.2%}",
            f"{r['speedup_eager']:.2f}x" if r["speedup_eager"] else "-",
            f"{r['speedup_compiled']:.2f}x" if r["speedup_compiled"] else "-",
        ])
    return rows


HEADERS = ["problem", "verdict s (median warm)", "max warm s", "cold s",
           "baselines s (once)", "kernel ms", "kernel-time spread", "vs eager", "vs compile"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--markdown", type=Path, help="also write the table here as Markdown")
    parser.add_argument("--only", nargs="*", help="problem folder names to run")
    args = parser.parse_args()
    dirs = sorted(p for p in PROBLEMS.iterdir() if (p / "problem.py").exists())
    if args.only:
        dirs = [d for d in dirs if d.name in args.only]
    with tempfile.TemporaryDirectory() as tmp:
        cache = BaselineCache(Path(tmp))
        results = [measure(d, args.repeats, cache) for d in dirs]
    table = Table(*HEADERS, title="verifier latency: request to full verdict "
                  "(5 trials, timing, both baselines)")
    for row in table_rows(results):
        table.add_row(*row)
    Console(width=200).print(table)
    if args.markdown:
        device = next((r["device"] for r in results if "device" in r), "?")
        lines = [f"Measured {date.today().isoformat()} on {device}, {args.repeats} warm runs.", "",
                 "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
        lines += ["| " + " | ".join(row) + " |" for row in table_rows(results)]
        args.markdown.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
