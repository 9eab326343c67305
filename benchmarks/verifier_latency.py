"""Time from request to full verdict for KernelBench-sized level-1 problems, on a GPU.

For each problem under benchmarks/problems/: one cold verification (it measures and caches the
eager and torch.compile baselines), then REPEATS warm ones that reuse them. Prints a table of the
per-candidate latency (median of the warm runs), the one-time baseline cost, and how much the
candidate's own median kernel time moved across the runs (timing repeatability); then where the
time goes: the median seconds of each phase of a verdict (tools/phases.py), cold and warm, over
all problems and per problem.

    python benchmarks/verifier_latency.py [--repeats 5] [--markdown FILE] [--no-resident]

A GPU worker keeps its task process between candidates (sandbox/resident.py); --no-resident
measures a fresh process per verification, as before. The cold time includes the reference's
own run (what check_files does first for a new problem), shown as its own phase and, per
problem, with the phases of that run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.table import Table

from kernel_agent.sandbox import get_sandbox
from kernel_agent.tools.check import BaselineCache, check_files, read_source, run_reference
from kernel_agent.tools.phases import ORDER

PROBLEMS = Path(__file__).resolve().parent / "problems"


def measure(problem_dir: Path, repeats: int, cache: BaselineCache,
            resident: bool | None) -> dict:
    """Cold run, then `repeats` warm runs of the same candidate. Without a GPU nothing is timed,
    and only the latencies and the phases are filled in."""
    sandbox = get_sandbox("local", resident=resident)
    problem, kernel = problem_dir / "problem.py", problem_dir / "kernel.py"
    started = time.perf_counter()
    # What check_files does first for a new problem, done here to be timed apart: the
    # reference's own run, whose time sets the candidates' wall limit.
    reference = run_reference(read_source(problem, "problem"), sandbox=sandbox, baselines=cache)
    reference_s = time.perf_counter() - started
    cold = check_files(problem, kernel, sandbox=sandbox, baselines=cache)
    cold_s = time.perf_counter() - started
    gpu = cold.device.get("type") == "cuda"
    if cold.status != "pass" or (gpu and cold.timing is None):
        return {"name": problem_dir.name, "error": cold.summary()}
    latencies, kernel_ms, warm_phases, processes = [], [], [], []
    for verdict in (cold, *(None,) * repeats):
        if verdict is None:
            started = time.perf_counter()
            verdict = check_files(problem, kernel, sandbox=sandbox, baselines=cache)
            latencies.append(time.perf_counter() - started)
            assert verdict.passed and (not gpu or verdict.timing.baseline_cached), (
                verdict.summary())
            warm_phases.append(with_outside(verdict.phases, latencies[-1]))
            processes.append(verdict.process)
        if verdict.timing is not None:
            kernel_ms.append(verdict.timing.candidate.median_ms)
    sandbox.close()
    result = {"name": problem_dir.name, "cold_s": cold_s, "warm_s": statistics.median(latencies),
              "warm_max_s": max(latencies), "device": cold.device.get("name"),
              "cold_phases": {**with_outside(cold.phases, cold_s - reference_s),
                              REFERENCE_RUN: reference_s},
              "reference_phases": reference.phases, "warm_phases": warm_phases,
              "processes": processes,
              "baseline_s": None, "kernel_ms": None, "spread": None, "speedup_eager": None,
              "speedup_compiled": None}
    if cold.timing is not None:
        result.update(baseline_s=cold.timing.baseline_seconds or 0.0,
                      kernel_ms=statistics.median(kernel_ms),
                      spread=(max(kernel_ms) - min(kernel_ms)) / statistics.median(kernel_ms),
                      speedup_eager=cold.timing.speedup_eager,
                      speedup_compiled=cold.timing.speedup_compiled)
    return result


OUTSIDE = "outside the verdict"  # sandbox start, host work
REFERENCE_RUN = "reference run"  # cold only: the reference verified as its own candidate


def with_outside(phases: dict[str, float], wall_s: float) -> dict[str, float]:
    """The verdict's phases plus the wall time none of them covers."""
    return {**phases, OUTSIDE: max(0.0, wall_s - sum(phases.values()))}


def process_lines(results: list[dict]) -> list[str]:
    """How many warm verdicts a kept task process answered, and why the others got a new one
    (a verdict's `process`: its job number in that process, and why the process was started)."""
    processes = [p for r in results if "error" not in r for p in r["processes"]]
    if not any(processes):
        return ["Task processes: none kept (a fresh process per verification)."]
    kept = sum(p.get("job", 0) > 1 for p in processes)
    fresh = Counter(p.get("fresh_because", "?") for p in processes if p.get("job", 0) <= 1)
    lines = [f"Task processes: {kept} of {len(processes)} warm verdicts came from a process kept "
             f"from an earlier verification; {len(processes) - kept} from a new one."]
    lines += [f"- a new process {count} time(s) because: {why}" for why, count in
              fresh.most_common()]
    origins = Counter(p.get("candidate_process", "?") for p in processes)
    lines.append("Candidate processes: " + ", ".join(
        f"{count} {origin}" for origin, count in origins.most_common())
        + " (spare: forked ahead, between tasks)")
    return lines


def reference_lines(results: list[dict]) -> list[str]:
    """Where each problem's reference run spent its time (its own phases, in seconds)."""
    lines = []
    for r in results:
        if "error" in r:
            continue
        total = r["cold_phases"][REFERENCE_RUN]
        phases = sorted(with_outside(r["reference_phases"], total).items(),
                        key=lambda item: -item[1])
        shown_phases = ", ".join(f"{name} {seconds:.2f}" for name, seconds in phases[:6])
        lines.append(f"Reference run, {r['name']}: {total:.2f} s ({shown_phases}; outside its "
                     "verdict: the sandbox's start when it is the first task)")
    return lines


def phase_rows(results: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Headers and rows of the breakdown: median seconds per phase, cold and warm, then warm per
    problem; a phase a run did not reach counts as 0 s in it."""
    done = [r for r in results if "error" not in r]
    cold = [r["cold_phases"] for r in done]
    warm = [p for r in done for p in r["warm_phases"]]
    names = [n for n in (*ORDER, OUTSIDE, REFERENCE_RUN) if any(n in p for p in cold + warm)]
    headers = ["phase", "cold s (median)", "warm s (median)", "warm share"] + [
        f"{r['name']} warm s" for r in done]
    warm_total = sum(median_of(warm, n) for n in names) or 1.0
    rows = [[n, f"{median_of(cold, n):.3f}", f"{median_of(warm, n):.3f}",
             f"{median_of(warm, n) / warm_total:.0%}"]
            + [f"{median_of(r['warm_phases'], n):.3f}" for r in done] for n in names]
    rows.append(["sum of medians", f"{sum(median_of(cold, n) for n in names):.3f}",
                 f"{warm_total:.3f}", "100%"]
                + [f"{sum(median_of(r['warm_phases'], n) for n in names):.3f}" for r in done])
    return headers, rows


def median_of(runs: list[dict[str, float]], name: str) -> float:
    return statistics.median(run.get(name, 0.0) for run in runs) if runs else 0.0


def table_rows(results: list[dict]) -> list[list[str]]:
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["name"], "FAILED: " + r["error"].splitlines()[0]] + [""] * 7)
            continue
        rows.append([
            r["name"], f"{r['warm_s']:.2f}", f"{r['warm_max_s']:.2f}", f"{r['cold_s']:.2f}",
            shown(r["baseline_s"], "{:.2f}"), shown(r["kernel_ms"], "{:.3f}"),
            shown(r["spread"], "{:.2%}"), shown(r["speedup_eager"], "{:.2f}x"),
            shown(r["speedup_compiled"], "{:.2f}x"),
        ])
    return rows


def shown(value: float | None, form: str) -> str:
    return "-" if value is None else form.format(value)


HEADERS = ["problem", "verdict s (median warm)", "max warm s", "cold s",
           "baselines s (once)", "kernel ms", "kernel-time spread", "vs eager", "vs compile"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--markdown", type=Path, help="also write the table here as Markdown")
    parser.add_argument("--only", nargs="*", help="problem folder names to run")
    parser.add_argument("--resident", action=argparse.BooleanOptionalAction, default=None,
                        help="keep the task process between verifications (default: on a GPU)")
    args = parser.parse_args()
    dirs = sorted(p for p in PROBLEMS.iterdir() if (p / "problem.py").exists())
    if args.only:
        dirs = [d for d in dirs if d.name in args.only]
    with tempfile.TemporaryDirectory() as tmp:
        cache = BaselineCache(Path(tmp))
        results = [measure(d, args.repeats, cache, args.resident) for d in dirs]
    table = Table(*HEADERS, title="verifier latency: request to full verdict "
                  "(5 trials, timing, both baselines)")
    for row in table_rows(results):
        table.add_row(*row)
    Console(width=200).print(table)
    phase_headers, phases = phase_rows(results)
    breakdown = Table(*phase_headers, title="where a verdict's time goes (seconds per phase)")
    for row in phases:
        breakdown.add_row(*row)
    Console(width=200).print(breakdown)
    processes = process_lines(results) + reference_lines(results)
    print("\n".join(processes))
    for r in results:
        if "error" in r:
            print(f"\n{r['name']} failed:\n{r['error']}")
    if args.markdown:
        device = next((r["device"] for r in results if "device" in r), "?")
        lines = [f"Measured {date.today().isoformat()} on {device}, {args.repeats} warm runs.", ""]
        lines += [*markdown(HEADERS, table_rows(results)), "", *markdown(phase_headers, phases),
                  "", *processes]
        args.markdown.write_text("\n".join(lines) + "\n")


def markdown(headers: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers),
            *("| " + " | ".join(row) + " |" for row in rows)]


if __name__ == "__main__":
    main()
