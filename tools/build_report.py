"""What the compile tool found: per kernel its launch, resources, occupancy and artifacts.

Plain dataclasses, so a report crosses the sandbox boundary as JSON. Inside the sandbox the
`artifacts` of a kernel hold the files' contents (the cubin base64-encoded); the host writes them
to disk and replaces them with paths.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from kernel_agent.tools.disasm import local_memory_text
from kernel_agent.tools.verdict import ErrorInfo

BuildStatus = Literal["ok", "compile_error", "run_error", "bad_input", "not_available",
                      "sandbox_error"]
BINARY_ARTIFACTS = ("cubin",)
HEADLINES = {"ok": "compiled", "compile_error": "COMPILE ERROR",
             "run_error": "compiled, but the candidate raised when run", "bad_input": "BAD INPUT",
             "not_available": "not available", "sandbox_error": "the sandbox stopped the compile"}


@dataclass
class Resources:
    """Registers, spills and memory of one compiled kernel (per thread unless said)."""

    registers: int
    shared_bytes: int  # per block: dynamic (Triton's allocation) plus static
    stack_bytes: int = 0
    local_bytes: int = 0
    spill_stores: int | None = None  # bytes, from ptxas -v
    spill_loads: int | None = None

    def text(self) -> str:
        spills = ("spills unknown" if self.spill_stores is None else
                  f"spills {self.spill_stores} B stored / {self.spill_loads} B loaded")
        local = f", local {self.local_bytes} B" if self.local_bytes else ""
        return (f"{self.registers} registers/thread, {spills}, stack {self.stack_bytes} B"
                f"{local}, shared memory {self.shared_bytes} B/block")


@dataclass
class KernelBuild:
    """One compiled variant of one kernel (a kernel launched with different specialisations,
    constexprs or num_warps compiles to several variants)."""

    name: str
    variant: int = 0
    launches: int = 0
    signature: dict[str, str] = field(default_factory=dict)
    constexprs: dict[str, str] = field(default_factory=dict)
    num_warps: int | None = None
    num_stages: int | None = None
    grid: list[int] | None = None
    resources: Resources | None = None
    occupancy: list[dict[str, Any]] = field(default_factory=list)  # launched num_warps first
    sass_highlights: dict[str, int] = field(default_factory=dict)
    sass_top: list[tuple[str, int]] = field(default_factory=list)
    local_memory: dict[str, int] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)
    error: ErrorInfo | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def label(self) -> str:
        return self.name if self.variant == 0 else f"{self.name}#{self.variant}"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KernelBuild:
        data = dict(data)
        if data.get("resources"):
            data["resources"] = Resources(**data["resources"])
        if data.get("error"):
            data["error"] = ErrorInfo(**data["error"])
        data["sass_top"] = [tuple(x) for x in data.get("sass_top", [])]
        return cls(**data)


@dataclass
class BuildReport:
    """The compile tool's answer for one candidate."""

    status: BuildStatus
    backend: str | None = None
    target: str | None = None
    capture: str = ""  # how launch signatures were found
    kernels: list[KernelBuild] = field(default_factory=list)
    error: ErrorInfo | None = None
    run_error: ErrorInfo | None = None
    notes: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    artifacts_dir: str | None = None
    elapsed_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BuildReport:
        data = dict(data)
        for key in ("error", "run_error"):
            if data.get(key):
                data[key] = ErrorInfo(**data[key])
        data["kernels"] = [KernelBuild.from_dict(k) for k in data.get("kernels", [])]
        return cls(**data)

    def kernel(self, name: str) -> KernelBuild | None:
        """A kernel by name (first variant) or label (`name#1`)."""
        return next((k for k in self.kernels if name in (k.label, k.name)), None)

    def summary(self) -> str:
        """Short text for the model: status, each kernel's resources and where files are."""
        head = HEADLINES[self.status]
        lines = [f"compile: {head}" + (f" for {self.target}" if self.target else "")
                 + (f" ({self.capture})" if self.capture else "")]
        for info in (self.error, self.run_error):
            if info:
                where = f" at {info.file}:{info.line}" if info.line else ""
                lines.append(f"error [{info.kind}]{where}: {info.message}")
                if info.excerpt:
                    lines.append(info.excerpt)
        for kernel in self.kernels:
            lines.extend(kernel_lines(kernel))
        lines.extend(f"note: {n}" for n in self.notes)
        if self.artifacts_dir:
            lines.append(f"artifacts (ttir, ttgir, llir, ptx, cubin, sass): {self.artifacts_dir}")
        return "\n".join(lines)


def kernel_lines(kernel: KernelBuild) -> list[str]:
    launch = [f"{kernel.launches} launch{'es' if kernel.launches != 1 else ''}"]
    if kernel.grid:
        launch.append(f"grid {tuple(kernel.grid)}")
    if kernel.num_warps:
        launch.append(f"num_warps {kernel.num_warps}, num_stages {kernel.num_stages}")
    lines = [f"kernel {kernel.label}: " + ", ".join(launch)]
    if kernel.constexprs:
        lines.append("  constexprs: " + ", ".join(f"{k}={v}" for k, v in kernel.constexprs.items()))
    if kernel.error:
        where = f" at {kernel.error.file}:{kernel.error.line}" if kernel.error.line else ""
        lines.append(f"  error [{kernel.error.kind}]{where}: {kernel.error.message}")
        if kernel.error.excerpt:
            lines.append("\n".join("  " + s for s in kernel.error.excerpt.splitlines()))
        return lines
    if kernel.resources:
        lines.append("  resources: " + kernel.resources.text())
    if kernel.occupancy and kernel.num_warps is None:
        arch = kernel.occupancy[0]["arch"]
        lines.append(f"  occupancy by num_warps (sm_{arch} limits): " + "; ".join(
            f"{o['num_warps']}: {o['fraction']:.0%}" for o in kernel.occupancy))
    elif kernel.occupancy:
        launched, *others = kernel.occupancy
        lines.append(f"  occupancy (sm_{launched['arch']} limits): " + occupancy_text(launched))
        if others:
            lines.append("  at other num_warps: " + "; ".join(
                f"{o['num_warps']}: {o['fraction']:.0%}" for o in others))
    if kernel.sass_highlights:
        h = kernel.sass_highlights
        lines.append(
            f"  SASS: {h['instructions']} instructions, tensor-core {h['tensor_core']}, "
            f"global loads {h['global_loads']} ({h['global_load_128']} 128-bit), "
            f"shared {h['shared_accesses']}, local LDL/STL {h['local_accesses']}, "
            f"barriers {h['barriers']}")
    if kernel.local_memory.get("sass_ldl") or kernel.local_memory.get("sass_stl"):
        lines.append("  " + local_memory_text(kernel.local_memory))
    if kernel.sass_top:
        lines.append("  top opcodes: " + ", ".join(f"{op} {n}" for op, n in kernel.sass_top))
    return lines


def occupancy_text(entry: dict[str, Any]) -> str:
    if entry["blocks_per_sm"] == 0:
        return f"cannot launch: {', '.join(entry['limiters'])} over the per-block limit"
    return (f"{entry['blocks_per_sm']} blocks/SM = {entry['warps_per_sm']}/{entry['max_warps']} "
            f"warps = {entry['fraction']:.0%} (limited by {', '.join(entry['limiters'])})")
