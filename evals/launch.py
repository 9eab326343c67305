"""From the choices of `kernel-agent eval` to a finished run with its report.

A run is defined by its settings (suite, selection, mode, candidates or model and budget): they
are recorded in the results file, and `resume=True` continues a run only with the same settings.
Where the work runs (GPUs, CPU workers, a Ray cluster, timeouts) may change between sessions
of one run.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kernel_agent import __version__
from kernel_agent.evals.candidates import match_candidates
from kernel_agent.evals.evaluate import EvaluateOnly
from kernel_agent.evals.jobs import Job
from kernel_agent.evals.options import parse_ranges
from kernel_agent.evals.report import write_report
from kernel_agent.evals.runner import Progress, make_sandboxes, open_run, run_workers
from kernel_agent.evals.suites import BUILTIN, Suite, SuiteError, load_suite, select

if TYPE_CHECKING:  # evaluate-only never imports the model stack (LangChain, openai)
    from kernel_agent.agent.models import ModelConfig


@dataclass(frozen=True)
class EvalOptions:
    """Everything `kernel-agent eval SUITE ...` was asked for; `candidates` picks the mode."""

    suite: str
    out: Path
    levels: list[int] = field(default_factory=list)
    problems: str | None = None
    candidates: Path | None = None
    model: ModelConfig | None = None
    budget_minutes: float = 15.0
    branches: int = 4
    rounds: int | None = None
    gpus: list[int] = field(default_factory=list)
    cpu_workers: int = 1
    timeout_s: float | None = None  # per verification; None: derived from each problem
    resume: bool = False
    memory: bool = True  # generate: start from kernels memory holds for a problem
    ray: str | None = None  # run on Ray: a cluster address, or "" for ray.init's own choice

    @property
    def mode(self) -> str:
        return "evaluate" if self.candidates is not None else "generate"


def settings_of(options: EvalOptions, suite: Suite,
                model: ModelConfig | None) -> dict[str, Any]:
    """What defines the run, and so must be the same on --resume."""
    settings: dict[str, Any] = {
        "suite": BUILTIN if suite.kind == "examples" else str(suite.root),
        "levels": sorted(options.levels), "problems": options.problems, "mode": options.mode}
    if options.candidates is not None:
        settings["candidates"] = str(options.candidates.resolve())
    elif model is not None:
        settings.update(model=model.model, base_url=model.base_url,
                        budget_minutes=options.budget_minutes, branches=options.branches,
                        rounds=options.rounds, memory=options.memory)
    return settings


def launch(options: EvalOptions, progress: Progress | None = None) -> dict[str, Path]:
    """Run (or resume) the eval, then write its report; the report's files by kind."""
    if options.ray is not None:
        from kernel_agent.evals.ray_pool import connect

        connect(options.ray)  # before anything is written
    suite = load_suite(options.suite)
    chosen = select(suite, options.levels,
                    parse_ranges(options.problems) if options.problems else None)
    candidates: dict[str, Path] = {}
    meta: dict[str, Any] = {"created": time.strftime("%Y-%m-%d %H:%M:%S %z"),
                            "host": socket.gethostname(), "kernel_agent": __version__}
    model = None
    job: Job
    notes: dict[str, str] = {}  # problem id -> why it has no candidate
    if options.candidates is not None:
        folder = options.candidates.resolve()
        matching = match_candidates(folder, list(suite.problems), {p.id for p in chosen})
        if not matching.found:
            raise SuiteError(f"no file in {options.candidates} matches a selected problem; see "
                             "`kernel-agent eval run --help` for the accepted layouts")
        candidates = matching.found
        notes = {p.id: matching.missing(p, folder) for p in chosen if p.id in matching.tried}
        meta["unmatched_candidates"] = [str(p.relative_to(folder)) for p in matching.unmatched]
        job = EvaluateOnly(options.timeout_s)
    else:
        from kernel_agent.agent.models import discover_model, ensure_endpoint
        from kernel_agent.evals.generate import GenerateAndEvaluate

        if options.model is None:
            raise ValueError("generate-and-evaluate needs a model (or pass --candidates DIR)")
        ensure_endpoint(options.model)
        model = discover_model(options.model)
        prices = model.prices()
        meta.update(model=model.summary(),
                    prices=[prices.input_per_mtok, prices.output_per_mtok] if prices else None)
        job = GenerateAndEvaluate(model, options.out, minutes=options.budget_minutes,
                                  branches=options.branches, rounds=options.rounds,
                                  timeout_s=options.timeout_s, memory=options.memory)
    meta["settings"] = settings_of(options, suite, model)
    opened = open_run(options.out, meta, chosen, candidates, options.resume, notes)
    if progress is not None:
        progress.start(opened.total, opened.done, opened.passed, opened.recovered)
    if opened.done < opened.total:
        slots = 1 if options.candidates is not None else max(
            1, min(options.branches, os.cpu_count() or 1))
        if options.ray is not None:
            from kernel_agent.evals.ray_pool import run_on_ray

            run_on_ray(options, model, slots, progress)
        else:
            sandboxes = make_sandboxes(options.gpus, options.cpu_workers, slots)
            run_workers(options.out, job, sandboxes, progress)
    elif progress is not None:
        progress.stop()
    return write_report(options.out)
