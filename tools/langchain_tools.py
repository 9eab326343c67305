"""The compile, test, profile and inspect tools as LangChain tools a model can call.

Host side only (the sandbox worker never imports LangChain). A `KernelWorkspace` holds one
problem, the candidate the model last submitted, the last compile and a directory; each tool takes
structured arguments, runs through the sandbox, keeps its full output in a file under the
directory and answers with text capped at `max_chars`, ending with that file's path. Given the
search's `deadline`, no tool run outlives it.
"""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path
from typing import Literal

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from kernel_agent.sandbox import Limits, Sandbox
from kernel_agent.tools.build_report import BuildReport
from kernel_agent.tools.check import verify_sources
from kernel_agent.tools.feedback import TOOL_OUTPUT_CHARS
from kernel_agent.tools.host_tools import (
    COMPILE_WALL_S,
    PROFILE_WALL_S,
    compile_sources,
    inspect_kernel,
    profile_sources,
)

DEFAULT_MAX_CHARS = TOOL_OUTPUT_CHARS
CODE_HELP = ("The complete candidate file: Python with `class ModelNew(nn.Module)` whose forward "
             "launches your kernels. Omit it to use the candidate you submitted last.")


class KernelWorkspace:
    """One problem, the latest candidate, its last compile, and where outputs are kept."""

    def __init__(self, problem: dict[str, str], directory: Path, *,
                 sandbox: Sandbox | None = None, max_chars: int = DEFAULT_MAX_CHARS,
                 target: str | None = None, deadline: float | None = None) -> None:
        self.problem, self.directory = problem, Path(directory)
        self.sandbox, self.max_chars, self.target = sandbox, max_chars, target
        self.deadline = deadline  # epoch seconds: the search's; None outside a search
        self.candidate: dict[str, str] | None = None
        self.build: BuildReport | None = None
        self.built_from: str | None = None
        self.numbers = itertools.count(1)
        self.lock = threading.Lock()

    def next_number(self) -> int:
        with self.lock:
            return next(self.numbers)

    def use(self, code: str | None) -> dict[str, str]:
        """The candidate to work on: `code` (saved as a new numbered file) or the last one."""
        if code is None or not code.strip():
            if self.candidate is None:
                raise ToolInputError("no candidate yet: pass the full candidate file as `code`")
            return self.candidate
        path = self.directory / "candidates" / f"candidate_{self.next_number()}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(code)
        self.candidate = {"text": code, "path": str(path)}
        return self.candidate

    def limits(self, wall_s: float) -> Limits:
        """`wall_s`, or the time left before the deadline when that is shorter."""
        left = None if self.deadline is None else self.deadline - time.time()
        return Limits(wall_s=wall_s if left is None else max(1.0, min(wall_s, left)))

    def compile(self, candidate: dict[str, str], target: str | None) -> BuildReport:
        folder = self.directory / "builds" / f"build_{self.next_number()}"
        self.build = compile_sources(self.problem, candidate, target=target or self.target,
                                     artifacts_dir=folder, sandbox=self.sandbox,
                                     limits=self.limits(COMPILE_WALL_S))
        self.built_from = candidate["text"]
        return self.build

    def reply(self, tool: str, text: str) -> str:
        """`text` capped at max_chars; the whole of it kept in a file named at the end."""
        path = self.directory / "outputs" / f"{tool}_{self.next_number()}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        footer = f"\n[full output: {path}]"
        if len(text) + len(footer) <= self.max_chars:
            return text + footer
        cut_note = f"\n... [{len(text)} characters in all; the rest is in the file]"
        keep = max(0, self.max_chars - len(footer) - len(cut_note))
        return text[:keep] + cut_note + footer


class ToolInputError(ValueError):
    """Arguments the model must correct; the message tells it how."""


class CompileArgs(BaseModel):
    code: str | None = Field(None, description=CODE_HELP)
    target: str | None = Field(
        None, description="GPU architecture to compile for, e.g. sm_90 (Hopper, uses wgmma), "
        "sm_80 (Ampere). Default: the GPU in the sandbox, else sm_90.")


class CandidateArgs(BaseModel):
    code: str | None = Field(None, description=CODE_HELP)


class InspectArgs(BaseModel):
    kernel: str = Field(description="Name of a kernel from the last compile (a variant of a "
                        "kernel compiled twice is named like `my_kernel#1`).")
    view: Literal["sass", "ptx", "ttgir", "ttir", "llir"] = Field(
        "sass", description="Which code to read: sass (machine code), ptx, or Triton's ttgir, "
        "ttir, llir.")
    pattern: str | None = Field(
        None, description="Regular expression; matching lines are returned with context, "
        "e.g. 'LDG|STG' or 'HGMMA|HMMA' or 'LDL|STL'.")
    context: int = Field(2, ge=0, le=20, description="Lines of context around each match.")
    histogram: bool = Field(True, description="Include the instruction histogram (sass or ptx) "
                            "and, for sass, local-memory/spill evidence.")


def make_tools(workspace: KernelWorkspace) -> list[BaseTool]:
    """compile_kernel, test_kernel, profile_kernel and inspect_kernel bound to `workspace`."""

    def compile_kernel(code: str | None = None, target: str | None = None) -> str:
        try:
            candidate = workspace.use(code)
        except ToolInputError as exc:
            return str(exc)
        return workspace.reply("compile", workspace.compile(candidate, target).summary())

    def test_kernel(code: str | None = None) -> str:
        try:
            candidate = workspace.use(code)
        except ToolInputError as exc:
            return str(exc)
        verdict = verify_sources(workspace.problem, candidate, sandbox=workspace.sandbox,
                                 deadline=workspace.deadline)
        return workspace.reply("test", verdict.summary())

    def profile_kernel(code: str | None = None) -> str:
        try:
            candidate = workspace.use(code)
        except ToolInputError as exc:
            return str(exc)
        folder = workspace.directory / "profiles" / f"profile_{workspace.next_number()}"
        report = profile_sources(workspace.problem, candidate, output_dir=folder,
                                 sandbox=workspace.sandbox,
                                 limits=workspace.limits(PROFILE_WALL_S))
        return workspace.reply("profile", report.summary())

    def inspect_compiled(kernel: str, view: str = "sass", pattern: str | None = None,
                         context: int = 2, histogram: bool = True) -> str:
        if workspace.candidate is None:
            return "nothing compiled yet: call compile_kernel with your candidate first"
        preface = ""
        if workspace.build is None or workspace.built_from != workspace.candidate["text"]:
            workspace.compile(workspace.candidate, None)
            preface = "(compiled the current candidate first)\n"
        assert workspace.build is not None
        if workspace.build.status not in ("ok", "run_error") and not workspace.build.kernels:
            return preface + workspace.build.summary()
        text = inspect_kernel(workspace.build, kernel, view, pattern, context, histogram)
        return workspace.reply("inspect", preface + text)

    return [
        StructuredTool.from_function(
            compile_kernel, name="compile_kernel", args_schema=CompileArgs,
            description=(
                "Compile the candidate's Triton kernels for a GPU architecture with Triton's real "
                "compiler (no GPU needed). Reports per kernel: launch grid, num_warps/num_stages, "
                "constexprs, registers per thread, spills, shared memory, occupancy and what "
                "limits it, and SASS highlights (tensor-core instructions, 128-bit loads, "
                "local memory). Compile errors name the line in your file. Use it before "
                "test_kernel to catch errors fast and to see resource usage.")),
        StructuredTool.from_function(
            test_kernel, name="test_kernel", args_schema=CandidateArgs,
            description=(
                "Run the verifier: correctness against the reference on several fresh inputs "
                "(max abs/rel error, worst index), integrity checks (e.g. outputs that ignore "
                "inputs, writes into inputs, no custom kernel launched) and, on a GPU, timing and "
                "speedup over PyTorch eager and torch.compile.")),
        StructuredTool.from_function(
            profile_kernel, name="profile_kernel", args_schema=CandidateArgs,
            description=(
                "Profile the candidate's own kernels with Nsight Compute (GPU hosts only): "
                "duration, SM and DRAM throughput as % of peak, achieved vs theoretical "
                "occupancy, registers and shared memory per block, top warp stall reasons, L1/L2 "
                "hit rates and the roofline position. Says 'not available' without a GPU.")),
        StructuredTool.from_function(
            inspect_compiled, name="inspect_kernel", args_schema=InspectArgs,
            description=(
                "Read the compiled code of one kernel from the last compile: SASS or PTX with an "
                "instruction histogram (e.g. HGMMA/HMMA tensor-core ops, LDG.E.128 vector loads, "
                "LDL/STL spills, BAR barriers), spill and local-memory detection, and a regex "
                "search returning matching lines with context. Also ttgir/ttir/llir.")),
    ]
