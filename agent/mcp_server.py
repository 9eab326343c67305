"""The MCP server behind `kernel-agent serve-mcp`: the verifier's tools and the kernel search.

Tools: `compile`, `test`, `profile` and `inspect` are the model-facing tools of
tools/langchain_tools.py, made stateless for MCP: every call names its problem and candidate
(a file path or source text). A workspace per (problem, candidate) pair is kept for the
session, so an `inspect` after a `compile` of the same pair reads that build instead of
compiling again. `check` gives the verdict of `kernel-agent check`, and `optimize_kernel` runs
the search (graphs/optimize_tool.py). Replies are capped; full outputs, verdicts and runs are
kept under the work directory and named in the replies.

An entry point, so it may import from every layer. In stdio mode nothing but the protocol may
reach stdout: the SDK points fd 1 at stderr while it serves, and sandbox workers talk to the
host over pipes of their own.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio
import anyio.from_thread
import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from kernel_agent.agent.models import NoEndpointConfigured
from kernel_agent.graphs.intake import DEFAULT_MINUTES
from kernel_agent.graphs.optimize_tool import BadReference, describe, optimize
from kernel_agent.graphs.runner import Event
from kernel_agent.sandbox import Limits, Sandbox, get_sandbox
from kernel_agent.tools.check import BadInput, cache_dir, read_source, verify_sources
from kernel_agent.tools.langchain_tools import DEFAULT_MAX_CHARS, KernelWorkspace, make_tools

Transport = Literal["stdio", "http"]
KEPT_WORKSPACES = 64
PROGRESS_EVENTS = ("run_started", "round_started", "candidate_verified", "new_best", "finished")

SOURCE_RULE = ("Give either a path to the .py file (absolute, or relative to the server's "
               "working directory) or the file's complete source text; a value containing a "
               "line break is taken as source text, anything else as a path.")
PROBLEM_HELP = ("The reference problem in KernelBench format (class Model, get_inputs(), "
                "get_init_inputs()). " + SOURCE_RULE)
CANDIDATE_HELP = ("The candidate (class ModelNew whose forward launches Triton or CUDA "
                  "kernels). " + SOURCE_RULE)

ProblemArg = Annotated[str, Field(description=PROBLEM_HELP)]
CandidateArg = Annotated[str, Field(description=CANDIDATE_HELP)]


class KernelTools:
    """What the server's tools share: the sandbox, the work directory and the workspaces."""

    def __init__(self, work_dir: Path, sandbox_name: str = "local",
                 max_chars: int = DEFAULT_MAX_CHARS) -> None:
        self.work_dir, self.sandbox_name, self.max_chars = Path(work_dir), sandbox_name, max_chars
        self._sandbox: Sandbox | None = None
        self._lock = threading.Lock()
        self._workspaces: OrderedDict[str, tuple[KernelWorkspace, threading.Lock]] = OrderedDict()

    def sandbox(self) -> Sandbox:
        """One sandbox for the whole session, started on first use (its workers import torch)."""
        with self._lock:
            if self._sandbox is None:
                self._sandbox = get_sandbox(self.sandbox_name)
            return self._sandbox

    def close(self) -> None:
        with self._lock:
            if self._sandbox is not None:
                self._sandbox.close()
                self._sandbox = None

    @contextmanager
    def workspace(self, problem: str, candidate: str) -> Iterator[KernelWorkspace]:
        """The pair's workspace, held for this call alone, with `candidate` as its current one."""
        problem_text, problem_path = _text_of(problem, "problem")
        candidate_text, candidate_path = _text_of(candidate, "candidate")
        key = hashlib.sha256(f"{problem_text}\0{candidate_text}".encode()).hexdigest()[:16]
        folder = self.work_dir / "workspaces" / key
        sandbox = self.sandbox()
        with self._lock:
            if key not in self._workspaces:
                folder.mkdir(parents=True, exist_ok=True)
                source = {"text": problem_text,
                          "path": problem_path or _keep(folder / "problem.py", problem_text)}
                self._workspaces[key] = (KernelWorkspace(
                    source, folder, sandbox=sandbox, max_chars=self.max_chars), threading.Lock())
                while len(self._workspaces) > KEPT_WORKSPACES:
                    self._workspaces.popitem(last=False)
            self._workspaces.move_to_end(key)
            workspace, held = self._workspaces[key]
        with held:
            workspace.candidate = {
                "text": candidate_text,
                "path": candidate_path or _keep(folder / "candidate.py", candidate_text)}
            yield workspace

    def run_tool(self, name: str, problem: str, candidate: str, **args: Any) -> str:
        """Call one of the LangChain tools on the pair; None arguments are left to its defaults."""
        with self.workspace(problem, candidate) as workspace:
            tool = next(t for t in make_tools(workspace) if t.name == name)
            return tool.invoke({k: v for k, v in args.items() if v is not None})

    def check(self, problem: str, candidate: str, options: dict[str, Any],
              timeout_s: float | None) -> str:
        with self.workspace(problem, candidate) as workspace:
            assert workspace.candidate is not None
            verdict = verify_sources(workspace.problem, workspace.candidate,
                                     sandbox=workspace.sandbox,
                                     limits=Limits(wall_s=timeout_s) if timeout_s else None,
                                     **options)
            path = workspace.directory / "verdicts" / f"verdict_{workspace.next_number()}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(verdict.to_dict(), indent=2) + "\n")
            return workspace.reply("check", f"{verdict.summary()}\nverdict JSON: {path}")

    def optimize(self, reference: str, on_event: Callable[[Event], None],
                 **settings: Any) -> str:
        text, _ = _text_of(reference, "reference")
        try:
            result = optimize(text, sandbox=self.sandbox(), run_root=self.work_dir / "runs",
                              on_event=on_event, **settings)
        except BadReference as exc:
            raise ToolError(f"bad reference: {exc}") from None
        except NoEndpointConfigured as exc:
            raise ToolError(f"no model endpoint: {exc}") from None
        return describe(result)


def _text_of(value: str, role: str) -> tuple[str, str | None]:
    """(source text, its file's path or None when the value was the text itself)."""
    if "\n" in value:
        return value, None
    if not value.strip():
        raise ToolError(f"{role} is empty: give a path to a .py file or the file's source text")
    try:
        source = read_source(Path(value).expanduser(), role)
    except BadInput as exc:
        raise ToolError(str(exc)) from None
    return source["text"], source["path"]


def _keep(path: Path, text: str) -> str:
    """Source given as text, written to a file so that error messages can point into it."""
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return str(path)


def _progress_message(event: Event) -> str:
    details = {k: v for k, v in event.items()
               if k not in ("event", "time") and isinstance(v, str | int | float) and v != ""}
    return event["event"] + "".join(f" {k}={v}" for k, v in list(details.items())[:5])


def create_server(tools: KernelTools) -> MCPServer:
    """The MCPServer with every tool registered on `tools`."""
    server = MCPServer("kernel-agent", instructions=(
        "Tools to write fast, correct GPU kernels: compile, test, profile and inspect a "
        "candidate kernel against a PyTorch reference (KernelBench format), check it with the "
        "full verifier, or let optimize_kernel search for one within a time budget."))

    @server.tool(name="compile", description=(
        "Compile the candidate's Triton kernels with Triton's real compiler for a GPU "
        "architecture (no GPU needed). Reports per kernel: launch grid, num_warps/num_stages, "
        "registers per thread, spills, shared memory, occupancy, SASS highlights, and compile "
        "errors at the line of the candidate file. Artifacts (ttir, ttgir, llir, ptx, cubin, "
        "sass) are kept; `inspect` on the same problem and candidate reads this build."))
    def compile_tool(problem: ProblemArg, candidate: CandidateArg,
                     target: Annotated[str | None, Field(description=(
                         "GPU architecture, e.g. sm_90 (Hopper) or sm_80 (Ampere). Default: the "
                         "GPU in the sandbox, else sm_90."))] = None) -> str:
        return tools.run_tool("compile_kernel", problem, candidate, target=target)

    @server.tool(name="test", description=(
        "Run the verifier on the candidate: correctness against the reference on several "
        "fresh inputs (max abs/rel error, worst index), integrity checks (outputs that ignore "
        "inputs, writes into inputs, no custom kernel launched, ...) and, on a GPU, timing and "
        "speedup over PyTorch eager and torch.compile. Answers in a few lines."))
    def test_tool(problem: ProblemArg, candidate: CandidateArg) -> str:
        return tools.run_tool("test_kernel", problem, candidate)

    @server.tool(name="profile", description=(
        "Profile the candidate's own kernels with Nsight Compute (GPU hosts only): duration, "
        "SM and DRAM throughput, occupancy, top warp stalls, cache hit rates, roofline "
        "position. Says plainly when no GPU is available."))
    def profile_tool(problem: ProblemArg, candidate: CandidateArg) -> str:
        return tools.run_tool("profile_kernel", problem, candidate)

    @server.tool(name="inspect", description=(
        "Read the compiled code of one kernel of the candidate: SASS or PTX with an "
        "instruction histogram (HGMMA/HMMA, LDG.E.128, LDL/STL, ...), spill and local-memory "
        "detection, a regex search with context, or Triton's ttgir/ttir/llir. Uses the last "
        "`compile` of the same problem and candidate, compiling first when there is none."))
    def inspect_tool(
        problem: ProblemArg, candidate: CandidateArg,
        kernel: Annotated[str, Field(description=(
            "Name of a @triton.jit kernel of the candidate (a variant compiled twice is named "
            "like `my_kernel#1`)."))],
        view: Annotated[Literal["sass", "ptx", "ttgir", "ttir", "llir"], Field(
            description="Which code to read.")] = "sass",
        pattern: Annotated[str | None, Field(description=(
            "Regular expression; matching lines come back with context, e.g. 'LDG|STG'."))]
            = None,
        context: Annotated[int, Field(ge=0, le=20, description="Lines around each match.")] = 2,
        histogram: Annotated[bool, Field(description=(
            "Include the instruction histogram and local-memory evidence."))] = True) -> str:
        return tools.run_tool("inspect_kernel", problem, candidate, kernel=kernel, view=view,
                              pattern=pattern, context=context, histogram=histogram)

    @server.tool(name="check", description=(
        "The full verdict of `kernel-agent check`: PASS/FAIL/BAD_INPUT with the stage reached, "
        "per-trial errors, integrity flags and timing (GPU) or what was not measured and why. "
        "The whole verdict is saved as JSON; its path ends the reply."))
    def check_tool(
        problem: ProblemArg, candidate: CandidateArg,
        trials: Annotated[int | None, Field(ge=1, le=100, description=(
            "Correctness trials, each on fresh inputs (default 5)."))] = None,
        atol: Annotated[float | None, Field(ge=0, description="Absolute tolerance.")] = None,
        rtol: Annotated[float | None, Field(ge=0, description="Relative tolerance.")] = None,
        timing: Annotated[bool, Field(description="Time the candidate (GPU only).")] = True,
        small: Annotated[bool | None, Field(description=(
            "Use the problem's get_small_inputs() (default: on a CPU only)."))] = None,
        timeout_s: Annotated[float | None, Field(gt=0, description=(
            "Wall-clock limit in seconds (default: derived from the reference's own run time "
            "plus a compile allowance, at most 600)."))] = None) -> str:
        options = {k: v for k, v in {"trials": trials, "atol": atol, "rtol": rtol,
                                     "small": small}.items() if v is not None}
        return tools.check(problem, candidate, {**options, "timing": timing}, timeout_s)

    @server.tool(name="optimize_kernel", description=(
        "Search for a fast, correct GPU kernel (Triton or CUDA) for a PyTorch reference: a "
        "reasoning model proposes kernels, each is verified, and the evidence drives the next "
        "round, in parallel branches, until the budget is spent or the target is met (without "
        "a GPU, until the first correct kernel). Progress is reported while it runs. Returns "
        "the status, the best kernel's source and file, its speedup or 'not timed', and the "
        "run directory. The reference is a KernelBench-format problem. " + SOURCE_RULE))
    async def optimize_kernel(
        reference: Annotated[str, Field(description=PROBLEM_HELP)],
        ctx: Context,
        budget_minutes: Annotated[float, Field(gt=0, le=24 * 60, description=(
            "Wall-clock minutes the search may spend."))] = DEFAULT_MINUTES,
        branches: Annotated[int | None, Field(ge=1, le=32, description=(
            "Parallel lines of search with different optimisation ideas (default 4)."))]
            = None,
        target_speedup: Annotated[float | None, Field(gt=0, description=(
            "Stop once a correct kernel is this many times faster than PyTorch eager."))]
            = None,
        request: Annotated[str | None, Field(description=(
            "Optional prose guidance for the kernel writer."))] = None) -> str:
        started = time.monotonic()

        def report(event: Event) -> None:
            if event.get("event") in PROGRESS_EVENTS:
                anyio.from_thread.run(partial(
                    ctx.report_progress, round((time.monotonic() - started) / 60, 3),
                    budget_minutes, _progress_message(event)))

        return await anyio.to_thread.run_sync(partial(
            tools.optimize, reference, report, budget_minutes=budget_minutes, branches=branches,
            target_speedup=target_speedup, request=request))

    return server


def default_work_dir() -> Path:
    return cache_dir() / "mcp"


def serve(transport: Transport = "stdio", host: str = "127.0.0.1", port: int = 8765,
          work_dir: Path | None = None, sandbox: str = "local") -> None:
    """Serve until the client goes (stdio) or the process is stopped (http)."""
    tools = KernelTools(work_dir or default_work_dir(), sandbox)
    server = create_server(tools)
    try:
        if transport == "stdio":
            server.run("stdio")
        else:
            server.run("streamable-http", host=host, port=port)
    finally:
        tools.close()
