"""Per-candidate sandbox overhead: how long before candidate code can run, and the round trip.

A probe task imports torch and triton (what every candidate needs; free where they are already
imported) and reports the wall-clock time at which it could start; the overhead is that time
minus the moment the host submitted the task. CUDA is never touched, so the figures exclude CUDA
context creation. Rows: the local backend's fork server (it preloads triton only on a GPU, so on
a CPU the task imports it; the second row is the GPU configuration), a fresh Python interpreter
per candidate (what a plain subprocess costs), and Docker, cold and with a standby container
started while the previous candidate ran (skipped, with the reason, where there is no engine or
image).

    python benchmarks/sandbox_overhead.py [--runs 20] [--gap 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from kernel_agent.sandbox import Limits, Sandbox, get_sandbox
from kernel_agent.sandbox.environment import scrubbed_env

TASK = "kernel_agent.sandbox.probe:started"
PAYLOAD = {"imports": ["torch", "triton"]}
LIMITS = Limits(wall_s=120)
Sample = tuple[float, float]  # (until task code runs, whole round trip), seconds


def sandbox_sampler(sandbox: Sandbox, gap_s: float = 0.0) -> Callable[[], Sample]:
    """`gap_s`: time between candidates (a real verification takes seconds), during which a
    standby container gets ready."""

    def sample() -> Sample:
        time.sleep(gap_s)
        submitted = time.time()
        result = sandbox.run(TASK, PAYLOAD, LIMITS)
        if result.value is None:
            raise RuntimeError(f"probe failed: {result.failure}")
        return result.value["time"] - submitted, time.time() - submitted

    return sample


def fresh_interpreter() -> Sample:
    code = "import time, torch, triton; print(time.time())"
    submitted = time.time()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=scrubbed_env(), check=True)
    return float(done.stdout) - submitted, time.time() - submitted


def measure(sample: Callable[[], Sample], runs: int) -> list[Sample]:
    sample()  # warm-up: starts workers, fills caches
    return [sample() for _ in range(runs)]


def row(name: str, samples: list[Sample]) -> str:
    start = sorted(s[0] * 1000 for s in samples)
    trip = sorted(s[1] * 1000 for s in samples)
    p90 = start[min(len(start) - 1, int(0.9 * len(start)))]
    return (f"| {name:<28} | {statistics.median(start):>10.0f} | {p90:>8.0f} | {start[0]:>8.0f} "
            f"| {statistics.median(trip):>15.0f} | {len(samples):>3} |")


def docker_rows(runs: int, gap_s: float) -> list[str]:
    rows = []
    for name, standby in (("docker, cold container", 0),
                          (f"docker, standby, {gap_s:g} s gap", 1)):
        try:
            sandbox = get_sandbox("docker", standby=standby)
        except (ImportError, ValueError) as exc:
            return [f"| {'docker':<28} | skipped: {exc}"]
        try:
            sampler = sandbox_sampler(sandbox, gap_s if standby else 0.0)
            rows.append(row(name, measure(sampler, runs)))
        finally:
            sandbox.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--gap", type=float, default=3.0,
                        help="seconds between candidates for the standby row")
    args = parser.parse_args()
    runs = args.runs
    print("| sandbox                      | to code ms | p90 ms   | min ms   | round trip ms   |"
          "   n |")
    print("|------------------------------|-----------:|---------:|---------:|----------------:|"
          "----:|")
    for name, preload in (("local, fork server", None),
                          ("local, triton preloaded", ("torch", "triton"))):
        local = get_sandbox("local", preload=preload)
        try:
            print(row(name, measure(sandbox_sampler(local), runs)), flush=True)
        finally:
            local.close()
    print(row("fresh Python interpreter", measure(fresh_interpreter, runs)), flush=True)
    for line in docker_rows(runs, args.gap):
        print(line, flush=True)


if __name__ == "__main__":
    main()
