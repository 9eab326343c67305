"""The re-timing task: time the finalists against each other, interleaved, on one GPU.

Run by name (`kernel_agent.tools.retime:run`) inside the sandbox; imports only the standard
library, torch, triton (through the candidates) and tools modules that do the same. Each
candidate was timed alone when verified, minutes apart and possibly on a GPU busy with other
branches; here the finalists and the eager reference take turns, round by round with the order
rotated, so drift in clocks and temperature hits them all alike. The result per candidate is the
median of its per-round medians. `"reference": false` leaves the eager reference out of the
rounds (a comparison of two kernels need not wait for it). Without a GPU nothing can be timed
and the task says so.
"""

from __future__ import annotations

import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from kernel_agent.tools.problem import Source, load_candidate, load_problem
from kernel_agent.tools.timing import L2Flusher, time_gpu
from kernel_agent.tools.verify import copy_matching_weights

DEFAULTS: dict[str, Any] = {"rounds": 5, "runs": 30, "time_box_s": 0.5, "seed": 1234,
                            "reference": True}
REFERENCE = "eager"


def run(payload: dict[str, Any]) -> dict[str, Any]:
    """Sandbox task entry point: {"problem", "candidates": [{"id", "text", "path"}]} in."""
    if not torch.cuda.is_available():
        return {"measured": False, "reason": "not measured: no GPU"}
    options = {**DEFAULTS, **payload}
    with tempfile.TemporaryDirectory(prefix="retime-") as tmp:
        contenders, errors = _contenders(options, Path(tmp))
        medians = interleaved(contenders, rounds=options["rounds"], runs=options["runs"],
                              time_box_s=options["time_box_s"])
    eager = statistics.median(medians[REFERENCE]) if REFERENCE in medians else None
    results = {}
    for key, samples in medians.items():
        if key == REFERENCE:
            continue
        median = statistics.median(samples)
        results[key] = {"median_ms": median, "round_medians_ms": samples,
                        "speedup_eager": eager / median if eager and median > 0 else None}
    return {"measured": True, "device": torch.cuda.get_device_name(), "eager_ms": eager,
            "rounds": options["rounds"], "results": results, "errors": errors}


def _contenders(options: dict[str, Any], workdir: Path
                ) -> tuple[dict[str, Callable[[], Any]], dict[str, str]]:
    """The eager reference and every candidate that loads, on the same inputs and weights."""
    device = torch.device("cuda")
    problem = load_problem(Source(**options["problem"]), workdir / "problem")
    init = problem.init_inputs(small=False)
    torch.manual_seed(options["seed"])
    with device:
        reference = problem.model_class(*init)
        inputs = problem.inputs(small=False)
    contenders: dict[str, Callable[[], Any]] = (
        {REFERENCE: _caller(reference, inputs)} if options["reference"] else {})
    errors: dict[str, str] = {}
    for number, candidate in enumerate(options["candidates"]):
        try:
            new_class = load_candidate(Source(candidate["text"], candidate["path"]),
                                       workdir / f"candidate_{number}")
            torch.manual_seed(options["seed"])
            with device:
                model = new_class(*init)
            copy_matching_weights(reference, model)
            call = _caller(model, inputs)
            call()  # compile and warm up before any timing
            torch.cuda.synchronize()
        except Exception as exc:  # it passed verification; a failure here is reported, not fatal
            errors[candidate["id"]] = f"{type(exc).__name__}: {exc}"[:500]
            continue
        contenders[candidate["id"]] = call
    return contenders, errors


def _caller(model: Any, inputs: list[Any]) -> Callable[[], Any]:
    def call() -> Any:
        with torch.no_grad():
            return model(*inputs)

    return call


def interleaved(contenders: dict[str, Callable[[], Any]], *, rounds: int = DEFAULTS["rounds"],
                runs: int = DEFAULTS["runs"],
                time_box_s: float = DEFAULTS["time_box_s"]) -> dict[str, list[float]]:
    """Per-round median times (ms) of each no-argument call, the order rotated every round and
    the L2 flushed before every run of any of them."""
    flush = L2Flusher(torch.device("cuda"))
    names = list(contenders)
    medians: dict[str, list[float]] = {name: [] for name in names}
    for number in range(rounds):
        shift = number % max(1, len(names))  # none: every candidate failed to load
        for name in names[shift:] + names[:shift]:
            stats = time_gpu(contenders[name], flush, runs=runs, time_box_s=time_box_s)
            medians[name].append(stats.median_ms)
    return medians
