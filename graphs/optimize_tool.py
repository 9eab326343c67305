"""`optimize_kernel`: the whole kernel search as one LangChain tool another agent can call.

The calling agent hands over a KernelBench-format reference as source text and a budget; the
tool writes it into a fresh run directory, runs `run_search` there and answers with a compact
text: the status, the best kernel's source (capped; the file's path is given), its speedup or
"not timed", and the run directory with every artifact. Problems the tool can see without
running anything (a syntax error, a missing `Model`) and configuration errors come back as the
tool's answer, never as an exception into the calling agent's loop.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field, ValidationError

from kernel_agent.agent.models import NoEndpointConfigured
from kernel_agent.graphs.context import Mode, ModelSpec
from kernel_agent.graphs.intake import DEFAULT_MINUTES
from kernel_agent.graphs.problem_file import structure_error
from kernel_agent.graphs.ranking import best_of
from kernel_agent.graphs.runner import Event, SearchResult, run_search
from kernel_agent.sandbox import Sandbox
from kernel_agent.tools.check import cache_dir

NAME = "optimize_kernel"
PROBLEM_FILE = "problem.py"
DEFAULT_MAX_CHARS = 12000
REFERENCE_LABEL = "reference_code"

DESCRIPTION = """\
Write a fast, correct GPU kernel (Triton or CUDA) for a PyTorch reference, by running a \
verified search: a reasoning model proposes kernels, each is compiled, tested for correctness \
against the reference on fresh random inputs, checked for cheating and timed on the GPU, and the \
evidence drives the next round. Blocks until the search ends: at most `budget_minutes`, sooner \
when a kernel meets `target_speedup` (without a GPU, the first correct kernel ends it).

`reference_code` must be a complete KernelBench-format Python file: `class Model(nn.Module)` \
whose forward is the computation to speed up, `get_inputs()` returning the forward's input \
tensors, `get_init_inputs()` returning Model's constructor arguments, and optionally \
`get_small_inputs()` with shapes small enough for a CPU.

Returns: the status (pass: a verified kernel was found; fail: none passed; error), the best \
kernel's source (class ModelNew, a drop-in replacement for Model) and the path of its file, its \
speedup over PyTorch eager or "not timed", and the run directory holding every candidate with \
its verdict and a report. A reference that cannot be used is answered with the exact error; fix \
it and call again."""


class OptimizeKernelArgs(BaseModel):
    """What the calling model passes."""

    reference_code: str = Field(description=(
        "The complete reference as Python source text in KernelBench format: `import torch`, "
        "`class Model(nn.Module)` with `forward`, `def get_inputs()` returning a list of input "
        "tensors, `def get_init_inputs()` returning a list of constructor arguments."))
    budget_minutes: float = Field(DEFAULT_MINUTES, gt=0, le=24 * 60, description=(
        "Wall-clock minutes the search may spend; more minutes allow more rounds of "
        "refinement and usually a faster kernel."))
    branches: int | None = Field(None, ge=1, le=32, description=(
        "Parallel lines of search, each starting from a different optimisation idea "
        "(default 4)."))
    target_speedup: float | None = Field(None, gt=0, description=(
        "Stop as soon as a correct kernel is this many times faster than PyTorch eager, "
        "e.g. 1.5. Default: use the whole budget looking for the fastest."))
    request: str | None = Field(None, description=(
        "Optional guidance in prose for the kernel writer, e.g. 'fuse the bias and GELU into "
        "the matmul epilogue' or 'inputs are bfloat16 on an H100'."))


class BadReference(ValueError):
    """The reference source is not a usable KernelBench problem; the message says why."""


def reference_error(reference_code: str) -> str | None:
    """Why the reference cannot be searched on, found without running it; None when usable."""
    if not reference_code.strip():
        return "reference_code is empty: pass the complete KernelBench-format Python file"
    return structure_error(reference_code, REFERENCE_LABEL)


def default_run_root() -> Path:
    """Under the user's cache (KERNEL_AGENT_CACHE moves it), else the system's temp folder."""
    for root in (cache_dir() / "runs", Path(tempfile.gettempdir()) / "kernel-agent-runs"):
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        return root
    raise OSError("no writable folder for run directories; pass run_root")


def new_run_dir(run_root: str | Path | None) -> Path:
    root = Path(run_root) if run_root is not None else default_run_root()
    path = root / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True)
    return path


def optimize(reference_code: str, *, budget_minutes: float = DEFAULT_MINUTES,
             branches: int | None = None, target_speedup: float | None = None,
             request: str | None = None, model: ModelSpec = None, mode: Mode = "auto",
             sandbox: Sandbox | None = None, run_root: str | Path | None = None,
             on_event: Callable[[Event], None] | None = None) -> SearchResult:
    """Run the search on `reference_code` in a new run directory under `run_root`.

    Raises BadReference before anything runs when the source is not a KernelBench problem;
    configuration errors (no endpoint, a bad profile) propagate from `run_search`.
    """
    error = reference_error(reference_code)
    if error:
        raise BadReference(error)
    run_dir = new_run_dir(run_root)
    problem = run_dir / PROBLEM_FILE
    problem.write_text(reference_code)
    options: dict[str, Any] = {} if branches is None else {"branches": branches}
    return run_search(problem, run_dir, model=model, mode=mode, minutes=budget_minutes,
                      target_speedup=target_speedup, request=request or None, sandbox=sandbox,
                      on_event=on_event, **options)


def describe(result: SearchResult, max_chars: int = DEFAULT_MAX_CHARS) -> str:
    """The compact answer: status, best kernel (capped, with its path), speedup, run dir."""
    passed = sum(c["status"] == "pass" for c in result.candidates)
    lines = [f"status: {result.status}" + (f" ({result.stop_reason})" if result.stop_reason
                                           else ""),
             f"rounds: {result.rounds}; candidates verified: {len(result.candidates)}, "
             f"passed: {passed}"]
    if result.error:
        lines.append(f"error: {result.error}")
    chosen, kernel = result.chosen, result.best_kernel
    if chosen is not None and kernel is not None:
        lines.append(f"speedup: {_speedup(chosen, result.stop_reason or '')}")
        lines.append(f"best kernel: {kernel} (candidate {chosen['id']})")
        lines.append(_capped_source(chosen["code"], kernel, max_chars))
    else:
        closest = best_of(result.candidates)
        if closest is not None:
            lines.append(f"closest candidate {closest['id']}: {closest['headline']}")
    lines.append(f"report: {result.report}")
    lines.append(f"run directory: {result.run_dir}")
    return "\n".join(lines)


def _speedup(chosen: dict[str, Any], said: str) -> str:
    """The speedup over eager, or "not timed" with the reason unless `said` already gives it."""
    if chosen.get("speedup"):
        return f"{chosen['speedup']:.2f}x over PyTorch eager"
    why = (chosen.get("verdict") or {}).get("not_measured", {}).get("timing")
    return "not timed" + (f" ({why})" if why and why not in said else "")


def _capped_source(code: str, path: Path, max_chars: int) -> str:
    if len(code) > max_chars:
        code = code[:max_chars] + f"\n# ... [{len(code)} characters in all; see {path}]\n"
    return f"```python\n{code.rstrip()}\n```"


def make_optimize_kernel_tool(model: ModelSpec = None, sandbox: Sandbox | None = None,
                              run_root: str | Path | None = None, *, mode: Mode = "auto",
                              max_chars: int = DEFAULT_MAX_CHARS, name: str = NAME) -> BaseTool:
    """An `optimize_kernel` tool whose searches use `model` (a chat model instance, a
    `ModelConfig` or a profile name; None: the configured default) and `sandbox` (None: a local
    sandbox per call), with run directories under `run_root` (None: the user's cache). `mode`
    is the search's (auto: tool calling when the model's configuration allows it; a model
    passed as an instance runs the closed loop unless "tools" is named)."""

    def optimize_kernel(reference_code: str, budget_minutes: float = DEFAULT_MINUTES,
                        branches: int | None = None, target_speedup: float | None = None,
                        request: str | None = None) -> str:
        try:
            result = optimize(reference_code, budget_minutes=budget_minutes, branches=branches,
                              target_speedup=target_speedup, request=request, model=model,
                              mode=mode, sandbox=sandbox, run_root=run_root)
        except BadReference as exc:
            return f"status: bad reference\nerror: {exc}"
        except (NoEndpointConfigured, ValueError, OSError) as exc:
            return f"status: error\nerror: {exc}"
        return describe(result, max_chars)

    return StructuredTool.from_function(
        optimize_kernel, name=name, description=DESCRIPTION, args_schema=OptimizeKernelArgs,
        handle_validation_error=_validation_message)


def _validation_message(error: ValidationError) -> str:
    problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}"
                         for e in error.errors())
    return f"status: bad arguments\nerror: {problems}"


optimize_kernel = make_optimize_kernel_tool()
