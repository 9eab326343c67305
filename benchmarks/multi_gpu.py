"""Evaluate-only and a search spread over the GPUs of one host: how throughput grows with GPUs.

For N = 1 .. all GPUs (or the first N of --gpus), evaluate-only runs on the suite with one worker
per GPU, while a thread samples each GPU's utilisation through NVML (nvidia-ml-py) every 100 ms.
The speedup is the one-GPU run's work time over the N-GPU run's, where work time runs from the
first problem's start to the last one's end as the results file records them: the workers'
start-up (each imports torch once), which more GPUs cannot shorten, is left out of it but shown
in the wall time. Goal: speedup >= 0.8 N. The verdicts (status, compiled, correct, flags, error
kind; not timings) must equal the one-GPU run's. Then one search (run_search, K branches, one
round; a scripted model endpoint in its own process answers every branch with a correct kernel)
runs over all the GPUs, and the table shows which worker verified what.

The default suite is the project's KernelBench-format test suite with its candidates, each
problem taken --copies times under new numbers so that every GPU has work; baselines (eager,
torch.compile) are measured once before the timed runs, in a cache of the output folder, so
every timed run finds them cached. --simulate N rehearses all of it with N workers on one device:
GPU 0 (listed N times, as `--gpus 0,0,...` does), or the CPU under the Triton interpreter where
there is no GPU. Simulated timings share one device: for trying the script, not for RESULTS.md.

    python benchmarks/multi_gpu.py [--gpus 0,1,...] [--suite DIR --candidates DIR] [--copies C]
                                   [--branches K] [--simulate N] [--out DIR] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the scripted server and the watches live with the tests

from kernel_agent.agent.models import ModelConfig, make_chat_model  # noqa: E402
from kernel_agent.evals.candidates import match_candidates  # noqa: E402
from kernel_agent.evals.launch import EvalOptions, launch  # noqa: E402
from kernel_agent.evals.options import parse_gpus  # noqa: E402
from kernel_agent.evals.results import load_results  # noqa: E402
from kernel_agent.evals.runner import worker_name  # noqa: E402
from kernel_agent.evals.suites import load_suite, select  # noqa: E402
from kernel_agent.graphs import run_search  # noqa: E402
from kernel_agent.sandbox import LocalSandbox  # noqa: E402
from kernel_agent.sandbox.gpus import discover_gpus  # noqa: E402
from tests.evals.parallel import decisions, workers_of  # noqa: E402
from tests.graphs.scripts import CORRECT, PROBLEM, Router, distinct, r1  # noqa: E402
from tests.graphs.spread import PoolWatch  # noqa: E402
from tests.openai_server import served_in_a_process  # noqa: E402

SUITE = ROOT / "tests" / "data" / "kernelbench" / "KernelBench"
CANDIDATES = ROOT / "tests" / "data" / "kernelbench" / "candidates"
GPU_PROBLEM = ROOT / "tests" / "data" / "gpu" / "big_scale_add_problem.py"  # keeps a GPU busy
GOAL = 0.8
SAMPLE_S = 0.1


@dataclass(frozen=True)
class Placement:
    """Where one run goes: GPU entries (one worker each), or CPU workers when `gpus` is empty."""

    gpus: list[int]
    cpu_workers: int = 1

    @property
    def workers(self) -> int:
        return len(self.gpus) or self.cpu_workers

    @property
    def label(self) -> str:
        if not self.gpus:
            return f"CPU x{self.cpu_workers}"
        if len(set(self.gpus)) < len(self.gpus):
            return f"GPU {self.gpus[0]} x{len(self.gpus)}"
        return "GPU " + ",".join(map(str, self.gpus))

    def worker_names(self) -> list[str]:
        if self.gpus:
            return [worker_name(self.gpus, i) for i in range(len(self.gpus))]
        return [f"cpu{i}" for i in range(self.cpu_workers)]

    def sandbox(self) -> LocalSandbox:
        """One local sandbox over all of the placement's workers, as the search uses."""
        if self.gpus:
            return LocalSandbox(gpus=self.gpus, workers_per_gpu=1)
        return LocalSandbox(gpus=[], cpu_workers=self.cpu_workers)


def placements(gpus_option: str | None, simulate: int | None) -> tuple[list[Placement], bool]:
    """The runs, from one worker up to all, and whether they are a simulation."""
    found = discover_gpus()
    if simulate is not None:
        if simulate < 1:
            raise SystemExit("--simulate needs at least 1 worker")
        if found:
            return [Placement([found[0]] * n) for n in range(1, simulate + 1)], True
        return [Placement([], n) for n in range(1, simulate + 1)], True
    try:
        chosen = parse_gpus(gpus_option, found)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    if not chosen:
        raise SystemExit("no GPU to spread over (NVML finds none, or --gpus cpu); pass "
                         "--simulate N to rehearse with N workers on one device")
    return [Placement(chosen[:n]) for n in range(1, len(chosen) + 1)], len(set(chosen)) < len(
        chosen)


class Utilisation:
    """Mean utilisation per GPU while the `with` block runs, from NVML samples in a thread."""

    def __init__(self, gpus: list[int], period_s: float = SAMPLE_S) -> None:
        self.gpus, self.period_s = sorted(set(gpus)), period_s
        self.samples: dict[int, list[int]] = {g: [] for g in self.gpus}
        self.unavailable: str | None = None
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def __enter__(self) -> Utilisation:
        if not self.gpus:
            self.unavailable = "no GPU in use"
            return self
        try:
            import pynvml
        except ImportError:
            self.unavailable = "nvidia-ml-py is not installed (pip install 'kernel-agent[gpu]')"
            return self
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            self.unavailable = f"NVML did not start: {exc}"
            return self
        try:
            handles = {g: pynvml.nvmlDeviceGetHandleByIndex(g) for g in self.gpus}
        except pynvml.NVMLError as exc:
            pynvml.nvmlShutdown()
            self.unavailable = f"NVML does not know GPUs {self.gpus}: {exc}"
            return self
        self.thread = threading.Thread(target=self.sample, args=(pynvml, handles), daemon=True)
        self.thread.start()
        return self

    def sample(self, pynvml: Any, handles: dict[int, Any]) -> None:
        try:
            while not self.stop.wait(self.period_s):
                for gpu, handle in handles.items():
                    self.samples[gpu].append(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        finally:
            pynvml.nvmlShutdown()

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join()

    def means(self) -> str:
        """`gpu0 87%, gpu1 85%`, or why nothing was sampled."""
        if self.unavailable:
            return f"n/a ({self.unavailable})"
        return ", ".join(f"gpu{g} {sum(s) / len(s):.0f}%" if s else f"gpu{g} -"
                         for g, s in self.samples.items())


def replicate(suite: Path, candidates: Path, copies: int, into: Path) -> tuple[Path, Path, int]:
    """The suite's problems (and their candidates) `copies` times, renumbered: copy k of problem
    n of a level is problem k * step + n, so every copy keeps its own id and its candidate."""
    problems = select(load_suite(str(suite)), [], None)
    found = match_candidates(candidates, problems).found
    step = 10 ** len(str(max(p.number for p in problems)))
    suite_out, candidates_out = into / "suite", into / "candidates"
    for copy in range(copies):
        for problem in problems:
            name = f"level{problem.level or 1}/{copy * step + problem.number}_{problem.name}.py"
            pairs = ((problem.path, suite_out), (found.get(problem.id), candidates_out))
            for source, root in pairs:
                if source is not None:
                    (root / name).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source, root / name)
    return suite_out, candidates_out, copies * len(problems)


def evaluate(placement: Placement, suite: Path, candidates: Path, run_dir: Path,
             timeout_s: float) -> dict[str, Any]:
    """One evaluate-only run: its wall and work time, utilisation, and who ran what."""
    options = EvalOptions(suite=str(suite), out=run_dir, candidates=candidates,
                          gpus=placement.gpus, cpu_workers=placement.cpu_workers,
                          timeout_s=timeout_s)
    started = time.perf_counter()
    with Utilisation(placement.gpus) as usage:
        launch(options)
    wall = time.perf_counter() - started
    rows = load_results(run_dir).problem_rows
    done = [r for r in rows if r["state"] == "done"]
    ran_by = Counter(workers_of(run_dir).values())
    return {"placement": placement, "wall_s": wall, "problems": len(done),
            "work_s": max(r["finished_at"] for r in done) - min(r["started_at"] for r in done),
            "usage": usage.means(), "decisions": decisions(run_dir),
            "per_worker": ", ".join(f"{name} {ran_by.get(name, 0)}"
                                    for name in placement.worker_names()),
            "devices": devices_of(run_dir)}


def devices_of(run_dir: Path) -> list[str]:
    return sorted({(a["verdict"].get("device") or {}).get("name") or "?"
                   for a in load_results(run_dir).attempt_rows})


def correct_kernels() -> Router:
    """The model endpoint: a correct kernel for every branch."""
    return Router(lambda _, idea, __: r1(distinct(CORRECT, idea)), [f"idea {n}" for n in range(64)])


def search(placement: Placement, branches: int, run_dir: Path) -> dict[str, Any]:
    """One round of K branches in one sandbox over every worker of `placement`."""
    sandbox = placement.sandbox()
    watch = PoolWatch(sandbox)
    problem = GPU_PROBLEM if placement.gpus else PROBLEM
    try:
        with served_in_a_process(correct_kernels) as base_url:
            model = make_chat_model(ModelConfig(profile="local", model="scripted-model",
                                                base_url=base_url))
            started = time.perf_counter()
            with Utilisation(placement.gpus) as usage:
                result = run_search(problem, run_dir, model=model, mode="closed_loop",
                                    branches=branches, rounds=1, sandbox=sandbox,
                                    use_memory=False, tune=False)
            wall = time.perf_counter() - started
    finally:
        sandbox.close()
    names = placement.worker_names()
    counts = watch.per_worker()
    return {"placement": placement, "branches": branches, "wall_s": wall,
            "status": result.status, "verified": len(watch.verifications()),
            "per_worker": ", ".join(f"{names[i]} {counts.get(i, 0)}" for i in range(len(names))),
            "peak": watch.peak_verifying, "usage": usage.means()}


def eval_rows(runs: list[dict[str, Any]]) -> list[list[str]]:
    first = runs[0]
    rows = []
    for run in runs:
        n = run["placement"].workers
        speedup = first["work_s"] / run["work_s"]
        same = run["decisions"] == first["decisions"]
        differ = sum(run["decisions"].get(k) != v for k, v in first["decisions"].items())
        rows.append([run["placement"].label, str(run["problems"]), f"{run['wall_s']:.1f}",
                     f"{run['work_s']:.1f}", f"{speedup:.2f}",
                     f"{'yes' if speedup >= GOAL * n else 'no'} (>= {GOAL * n:.1f})",
                     run["usage"], run["per_worker"],
                     "reference" if run is first else ("yes" if same else f"NO ({differ} differ)")])
    return rows


EVAL_HEAD = ["GPUs", "problems", "wall s", "work s", "speedup", f"{GOAL:g}*N met",
             "mean utilisation", "problems per worker", "verdicts = first run"]
SEARCH_HEAD = ["workers", "branches", "wall s", "status", "verifications per worker",
               "most at once", "mean utilisation"]


def search_row(run: dict[str, Any]) -> list[str]:
    return [run["placement"].label, str(run["branches"]), f"{run['wall_s']:.1f}", run["status"],
            run["per_worker"], str(run["peak"]), run["usage"]]


def rich_table(title: str, head: list[str], rows: list[list[str]]) -> Table:
    table = Table(*head, title=title)
    for row in rows:
        table.add_row(*row)
    return table


def markdown_table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def markdown(title: str, notes: list[str], eval_table: list[list[str]],
             search_table: list[list[str]]) -> str:
    return (f"### {title} ({date.today().isoformat()})\n\n" + "\n".join(notes) + "\n\n"
            f"{markdown_table(EVAL_HEAD, eval_table)}\n\n"
            f"{markdown_table(SEARCH_HEAD, search_table)}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpus", help="GPU indices, e.g. 0,1,2,3 [default: all found]")
    parser.add_argument("--simulate", type=int, metavar="N",
                        help="N workers on one device (GPU 0, or the CPU without a GPU)")
    parser.add_argument("--suite", type=Path, default=SUITE)
    parser.add_argument("--candidates", type=Path, default=CANDIDATES)
    parser.add_argument("--copies", type=int, default=4,
                        help="take every problem this many times (1 for a full suite)")
    parser.add_argument("--branches", type=int,
                        help="search branches [default: one per worker, at least 2]")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per verification")
    parser.add_argument("--out", type=Path, help="where the runs go [default: a temp dir]")
    parser.add_argument("--markdown", type=Path, help="append a dated section to this file")
    args = parser.parse_args()
    if args.copies < 1:
        parser.error("--copies must be at least 1")
    runs_of, simulated = placements(args.gpus, args.simulate)
    widest = runs_of[-1]
    console = Console()
    if not console.is_terminal:
        console.width = 200  # a log file gets the tables unwrapped
    out = args.out or Path(tempfile.mkdtemp(prefix="multi-gpu-"))
    os.environ["KERNEL_AGENT_CACHE"] = str(out / "cache")
    # workers are pinned by NVML index; CUDA numbers GPUs the same way only in PCI bus order
    os.environ.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    suite, candidates, count = replicate(args.suite, args.candidates, args.copies, out / "suite")
    console.print(f"{count} problems ({args.copies} x {args.suite}); runs in {out}")
    if widest.gpus:  # fill the baseline cache, so that no timed run measures baselines
        console.print(f"measuring baselines on {widest.label} (not timed)")
        launch(EvalOptions(suite=str(args.suite), out=out / "baselines",
                           candidates=args.candidates, gpus=widest.gpus, timeout_s=args.timeout))
    runs = []
    for placement in runs_of:
        run = evaluate(placement, suite, candidates, out / f"eval-{placement.workers}",
                       args.timeout)
        console.print(f"{placement.label}: {run['work_s']:.1f} s of work, "
                      f"{run['wall_s']:.1f} s wall")
        runs.append(run)
    branches = args.branches or max(2, widest.workers)
    found = search(widest, branches, out / "search")
    devices = ", ".join(runs[-1]["devices"])
    shared = "workers share one GPU" if widest.gpus else "workers on the CPU"
    kind = f"simulated: {shared}" if simulated else "one worker per GPU"
    eval_table, search_table = eval_rows(runs), [search_row(found)]
    console.print(rich_table(f"Evaluate-only, {count} problems ({devices}; {kind})",
                             EVAL_HEAD, eval_table))
    console.print(rich_table(f"One search round, {branches} branches", SEARCH_HEAD, search_table))
    console.print(f"speedup = work s of the first run / work s of this one; work s = first "
                  f"problem's start to last problem's end; wall s adds start-up and the report. "
                  f"Load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs.")
    if args.markdown:
        notes = [f"Suite: {args.suite.name} x {args.copies} ({count} problems); device: "
                 f"{devices}; workers: {kind}; {os.cpu_count()} CPUs, load average "
                 f"{os.getloadavg()[0]:.1f}. Speedup is on work time (first problem's start to "
                 "last problem's end); wall time adds start-up and the report."]
        with open(args.markdown, "a") as f:
            f.write("\n" + markdown("Multi-GPU eval and search", notes, eval_table,
                                    search_table))


if __name__ == "__main__":
    main()
