"""Does a search spend its budget whatever the endpoint does? `kernel-agent solve` against
scripted fault mixes.

Each mix runs the real command (a child process) with the real langchain-openai client against
a scripted OpenAI-compatible server in a process of its own, with the real local sandbox. The
model answers after `--delay` seconds, always with a wrong kernel (an off-by-one mask, a file
of its own every time), so no candidate passes and only the budget, or the circuit breaker,
can end the search: on a machine without a GPU a correct kernel would end it at once. Mixes:
no faults; 20% and 50% of all calls (plan, generate, critic) failing, each fault drawn in turn
from every kind the tests inject (HTTP 500, 429 with Retry-After, an HTML body, 502, a stream
cut mid-reply, a stream that stalls, an empty reply, a reasoning-only reply, prose); and an
endpoint that accepts every request and never answers. The client's stall limit is 10 s
(KERNEL_AGENT_TIMEOUT_S), its retries the local profile's 2; the model works in the closed loop,
as DeepSeek-R1 (the default profile) does.

Reported per mix: wall time of the command, budget used (wall time over budget, start-up
included), how far past the budget it ended, attempts (candidates verified plus failed
attempts recorded in attempts.jsonl), candidates verified, the final status and stop reason.
Acceptance: every mix uses at least 90% of its budget and none overruns it by more than 10 s.

    python benchmarks/search_resilience.py [--budget 90] [--branches 2] [--delay 1]
                                           [--markdown FILE]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the scripted server lives with the tests

from tests.graphs.scripts import FAULTS, OFF_BY_ONE, PROBLEM, Router, distinct, r1  # noqa: E402
from tests.openai_server import Hang, Scripted, served_in_a_process  # noqa: E402

IDEAS = ["one block per program", "a grid-stride loop", "vector loads", "a persistent grid"]
MIXES = {"none": 0.0, "20% of calls fail": 0.2, "50% of calls fail": 0.5, "endpoint hangs": None}
CYCLE = [name for name in FAULTS if name != "hang"]  # a hang has its own mix
MIN_USED, MAX_OVERRUN_S = 0.90, 10.0


class FaultMix:
    """The scripted endpoint: a share `rate` of all requests get the next fault of `CYCLE`
    (drawn with a fixed seed), the others the model's answer after `delay_s`; with `rate`
    None, every request hangs."""

    def __init__(self, rate: float | None, delay_s: float, seed: int = 0) -> None:
        self.rate, self.random, self.lock = rate, random.Random(seed), threading.Lock()
        self.kinds, self.numbers = itertools.cycle(CYCLE), itertools.count(1)
        self.router = Router(self.wrong_kernel, IDEAS, delay_s=delay_s)

    def wrong_kernel(self, round_: int, idea: str, request: dict[str, Any]) -> Scripted:
        return r1(distinct(OFF_BY_ONE, f"answer {next(self.numbers)}"))

    def __call__(self, request: dict[str, Any]) -> Scripted:
        if self.rate is None:
            return Hang(max_s=3600)
        with self.lock:
            fault = FAULTS[next(self.kinds)] if self.random.random() < self.rate else None
        return fault if fault is not None else self.router(request)


def make_mix(rate: float | None, delay_s: float) -> FaultMix:
    return FaultMix(rate, delay_s)


def solve(base_url: str, budget_s: float, branches: int, run_dir: Path) -> dict[str, Any]:
    """One `kernel-agent solve`, timed from launch to exit, with what its run directory holds."""
    command = [sys.executable, "-m", "kernel_agent.agent.cli", "solve", str(PROBLEM),
               "--profile", "local", "--base-url", base_url, "--model", "scripted-model",
               "--budget", f"{budget_s:g}s", "--branches", str(branches), "--out", str(run_dir)]
    env = {**os.environ, "KERNEL_AGENT_TIMEOUT_S": "10", "KERNEL_AGENT_MODE": "closed_loop",
           "KERNEL_AGENT_MEMORY": str(run_dir.parent / f"{run_dir.name}-memory.sqlite"),
           "COLUMNS": "200"}  # a memory of its own: no remembered kernel may end the search
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=budget_s + 300)
    wall = time.monotonic() - started
    summary = dict(line.split(": ", 1) for line in done.stdout.splitlines()
                   if line.startswith(("status: ", "stop reason: ")))
    candidates, attempts = (_lines(run_dir / name)
                            for name in ("candidates.jsonl", "attempts.jsonl"))
    return {"wall_s": wall, "used": wall / budget_s, "overrun_s": max(0.0, wall - budget_s),
            "verified": len(candidates), "failed": len(attempts),
            "attempts": len(candidates) + len(attempts), "exit": done.returncode,
            "status": summary.get("status", "?"), "stop": summary.get("stop reason", "?"),
            "stderr": done.stderr.strip()[-500:]}


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def table(results: dict[str, dict[str, Any]], budget_s: float) -> Table:
    out = Table(title=f"solve under faults, budget {budget_s:g} s")
    for column in ("mix", "wall s", "budget used %", "overrun s", "attempts", "failed",
                   "verified", "status", "stop reason", "ok"):
        out.add_column(column)
    for mix, r in results.items():
        out.add_row(mix, f"{r['wall_s']:.1f}", f"{100 * r['used']:.0f}", f"{r['overrun_s']:.1f}",
                    str(r["attempts"]), str(r["failed"]), str(r["verified"]), r["status"],
                    r["stop"], "yes" if acceptable(r) else "NO")
    return out


def acceptable(result: dict[str, Any]) -> bool:
    return result["used"] >= MIN_USED and result["overrun_s"] <= MAX_OVERRUN_S


def markdown(results: dict[str, dict[str, Any]], budget_s: float, branches: int,
             delay_s: float) -> str:
    lines = [f"### Search resilience ({date.today().isoformat()}, {os.cpu_count()} CPUs, budget "
             f"{budget_s:g} s, {branches} branches, model delay {delay_s:g} s)", "",
             "| mix | wall s | budget used % | overrun s | attempts | failed attempts | "
             "candidates verified | status | stop reason |",
             "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {mix} | {r['wall_s']:.1f} | {100 * r['used']:.0f} | {r['overrun_s']:.1f} | "
              f"{r['attempts']} | {r['failed']} | {r['verified']} | {r['status']} | "
              f"{r['stop']} |" for mix, r in results.items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=90.0, help="seconds per search")
    parser.add_argument("--branches", type=int, default=2)
    parser.add_argument("--delay", type=float, default=1.0, help="the model's answer time, s")
    parser.add_argument("--mixes", nargs="+", choices=list(MIXES), default=list(MIXES))
    parser.add_argument("--markdown", type=Path, help="also write the table as Markdown")
    args = parser.parse_args()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="search-resilience-") as folder:
        for number, mix in enumerate(args.mixes):
            with served_in_a_process(partial(make_mix, MIXES[mix], args.delay)) as base_url:
                results[mix] = solve(base_url, args.budget, args.branches,
                                     Path(folder) / f"run{number}")
            if results[mix]["status"] == "?":
                print(f"{mix}: exit {results[mix]['exit']}: {results[mix]['stderr']}")
    Console(width=160).print(table(results, args.budget))
    if args.markdown:
        args.markdown.write_text(markdown(results, args.budget, args.branches, args.delay))
    sys.exit(0 if all(acceptable(r) for r in results.values()) else 1)


if __name__ == "__main__":
    main()
