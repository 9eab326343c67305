"""Per-round overhead of the search graph itself, apart from the model and the verifier.

A search runs against a local OpenAI-compatible server that answers at once (the real ChatOpenAI
client, real HTTP; the server runs in a process of its own, as a model endpoint would), with real
verification in the local sandbox and SQLite checkpoints written synchronously, as `run_search`
does. Every candidate is wrong (an off-by-one mask), so each
search runs all its rounds. A round's steps are supersteps (critic, generate, verify, each in
parallel across branches), so the round's model and verification time is the slowest critic
call plus the slowest generate call plus the slowest verification, all taken from the events;
what remains of the round's wall time is the graph's: scheduling, checkpoints, prompts, code
extraction, diagnosis, run-directory writes, events. Target: at most 50 ms per round.

    python benchmarks/graph_overhead.py [--branches 1 4 8] [--rounds 5] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the scripted server lives with the tests

from kernel_agent.agent.models import ModelConfig, make_chat_model  # noqa: E402
from kernel_agent.graphs import run_search  # noqa: E402
from kernel_agent.sandbox import get_sandbox  # noqa: E402
from tests.graphs.scripts import OFF_BY_ONE, PROBLEM, Router, distinct, r1, warm  # noqa: E402
from tests.openai_server import served_in_a_process  # noqa: E402

TARGET_MS = 50.0
IDEAS = [f"idea {n}" for n in range(16)]


def measure(branches: int, rounds: int, workers: int, base_url: str) -> dict:
    """One search of `rounds` rounds; the per-round split of its wall time."""
    events: list[dict] = []
    sandbox = get_sandbox("local", cpu_workers=workers)
    warm(sandbox)  # start the workers before the clock does
    try:
        with tempfile.TemporaryDirectory() as run_dir:
            model = make_chat_model(ModelConfig(profile="local", model="scripted-model",
                                                base_url=base_url))
            run_search(PROBLEM, run_dir, model=model, mode="closed_loop", branches=branches,
                       rounds=rounds, sandbox=sandbox, on_event=events.append)
    finally:
        sandbox.close()
    return split(events) | {"branches": branches}


def instant_wrong_kernels() -> Router:
    """The model: answers at once, always with the off-by-one kernel (a file of its own for
    every round and branch, so each is verified)."""
    return Router(lambda round_, idea, _: r1(distinct(OFF_BY_ONE, f"{round_} {idea}")), IDEAS)


def split(events: list[dict]) -> dict:
    slowest: dict[tuple[str, int], float] = defaultdict(float)
    walls: dict[int, float] = {}
    for event in events:
        kind = event["event"]
        if kind in ("critic_done", "candidate_generated", "generation_failed"):
            key = ("critic" if kind == "critic_done" else "model", event["round"])
            slowest[key] = max(slowest[key], event["model_s"])
        elif kind == "candidate_verified":
            slowest[("verify", event["round"])] = max(slowest[("verify", event["round"])],
                                                      event["verify_s"])
        elif kind == "round_finished":
            walls[event["round"]] = event["seconds"]
    overhead, model, verify = [], [], []
    for number, wall in sorted(walls.items()):
        model_s = slowest[("critic", number)] + slowest[("model", number)]
        verify_s = slowest[("verify", number)]
        model.append(model_s)
        verify.append(verify_s)
        overhead.append(wall - model_s - verify_s)
    return {"rounds": len(walls), "wall_s": statistics.median(walls.values()),
            "model_s": statistics.median(model), "verify_s": statistics.median(verify),
            "overhead_ms": 1e3 * statistics.median(overhead),
            "overhead_max_ms": 1e3 * max(overhead)}


def table(results: list[dict]) -> Table:
    out = Table("branches", "rounds", "round s", "model s", "verify s", "graph ms", "max ms",
                f"<= {TARGET_MS:g}",
                title="Graph overhead per round = round - model - verification (medians)")
    for r in results:
        out.add_row(str(r["branches"]), str(r["rounds"]), f"{r['wall_s']:.3f}",
                    f"{r['model_s']:.3f}", f"{r['verify_s']:.3f}", f"{r['overhead_ms']:.1f}",
                    f"{r['overhead_max_ms']:.1f}",
                    "yes" if r["overhead_ms"] <= TARGET_MS else "NO")
    return out


def markdown(results: list[dict]) -> str:
    lines = [f"### Graph overhead per round ({date.today().isoformat()}, {os.cpu_count()} CPUs, "
             f"load average {os.getloadavg()[0]:.1f})", "",
             "| branches | rounds | round s | model s | verify s | graph ms (median) | "
             "graph ms (max) |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {r['branches']} | {r['rounds']} | {r['wall_s']:.3f} | {r['model_s']:.3f} | "
              f"{r['verify_s']:.3f} | {r['overhead_ms']:.1f} | {r['overhead_max_ms']:.1f} |"
              for r in results]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--branches", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2, help="sandbox CPU workers")
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown")
    args = parser.parse_args()
    started = time.perf_counter()
    with served_in_a_process(instant_wrong_kernels) as base_url:
        results = [measure(k, args.rounds, args.workers, base_url) for k in args.branches]
    Console().print(table(results))
    print(f"({time.perf_counter() - started:.0f} s in all; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    if args.markdown:
        args.markdown.write_text(markdown(results))


if __name__ == "__main__":
    main()
