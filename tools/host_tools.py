"""Host side of the compile, profile and inspect tools: sandbox runs, and files kept on disk.

Like check.py this module never imports torch or triton: the candidate only ever runs inside the
sandbox, and what comes back is JSON. Compile artifacts (TTIR, TTGIR, LLIR, PTX, cubin, SASS) and
ncu's CSV are written under a directory the caller chooses, so later inspect calls and people can
read them. The test tool is the verifier itself (`check.verify_sources(...).summary()`).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path
from typing import Any

from kernel_agent.sandbox import Limits, Sandbox, TaskResult, one_shot_sandbox
from kernel_agent.tools import disasm
from kernel_agent.tools.build_report import BINARY_ARTIFACTS, BuildReport, KernelBuild
from kernel_agent.tools.ncu import ProfileReport
from kernel_agent.tools.triton_build import Target
from kernel_agent.tools.verdict import ErrorInfo

COMPILE_TASK = "kernel_agent.tools.compiler:run"
PROFILE_TASK = "kernel_agent.tools.profiler:run"
COMPILE_WALL_S = 600.0
PROFILE_WALL_S = 900.0
INSPECT_VIEWS = ("sass", "ptx", "ttgir", "ttir", "llir")


def run_task(task: str, payload: dict[str, Any], sandbox: Sandbox | None,
             limits: Limits) -> TaskResult:
    own = sandbox is None
    sandbox = sandbox or one_shot_sandbox()
    try:
        return sandbox.run(task, payload, limits)
    finally:
        if own:
            sandbox.close()


def compile_sources(problem: dict[str, str], candidate: dict[str, str], *,
                    target: str | None = None, artifacts_dir: Path | None = None,
                    sandbox: Sandbox | None = None, limits: Limits | None = None,
                    **options: Any) -> BuildReport:
    """Compile the candidate's kernels in the sandbox; keep the artifacts in `artifacts_dir`."""
    if target is not None:
        try:
            Target.parse(target)
        except ValueError as exc:
            return BuildReport("bad_input", error=ErrorInfo("bad_target", str(exc)))
    payload = {"problem": problem, "candidate": candidate, "target": target, **options}
    result = run_task(COMPILE_TASK, payload, sandbox, limits or Limits(wall_s=COMPILE_WALL_S))
    if result.failure is not None:
        return BuildReport("sandbox_error", error=ErrorInfo(
            result.failure.kind, result.failure.message,
            excerpt=result.output_tail.strip()[-1500:]), elapsed_s=round(result.elapsed_s, 3))
    report = BuildReport.from_dict(result.value or {})
    if artifacts_dir is not None:
        keep_artifacts(report, Path(artifacts_dir))
    return report


def folder_name(kernel: KernelBuild) -> str:
    return re.sub(r"[^\w.-]", "_", kernel.label.replace("#", "-"))


def keep_artifacts(report: BuildReport, directory: Path) -> None:
    """Write every kernel's artifacts under `directory/<kernel>/` and put paths in the report."""
    directory.mkdir(parents=True, exist_ok=True)
    for kernel in report.kernels:
        folder = directory / folder_name(kernel)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        stem = re.sub(r"[^\w.-]", "_", kernel.name)[:100]
        for kind, content in kernel.artifacts.items():
            path = folder / f"{stem}.{kind}"
            if kind in BINARY_ARTIFACTS:
                path.write_bytes(base64.b64decode(content))
            else:
                path.write_text(content)
            kernel.artifacts[kind] = str(path)
    report.artifacts_dir = str(directory)
    (directory / "report.json").write_text(json.dumps(report.to_dict(), indent=1))


def load_build(artifacts_dir: Path) -> BuildReport:
    """The report a compile left in `artifacts_dir` (its artifacts given as paths)."""
    return BuildReport.from_dict(json.loads((Path(artifacts_dir) / "report.json").read_text()))


def profile_sources(problem: dict[str, str], candidate: dict[str, str], *,
                    output_dir: Path | None = None, sandbox: Sandbox | None = None,
                    limits: Limits | None = None, **options: Any) -> ProfileReport:
    """Profile the candidate's kernels with Nsight Compute in the sandbox (GPU hosts)."""
    payload = {"problem": problem, "candidate": candidate, **options}
    result = run_task(PROFILE_TASK, payload, sandbox, limits or Limits(wall_s=PROFILE_WALL_S))
    if result.failure is not None:
        return ProfileReport("error", reason=f"the sandbox stopped the profile "
                             f"[{result.failure.kind}]: {result.failure.message}")
    report = ProfileReport.from_dict(result.value or {})
    if output_dir is not None and report.csv:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        path = Path(output_dir) / "ncu.csv"
        path.write_text(report.csv + "\n")
        report.csv = str(path)
    return report


def inspect_kernel(report: BuildReport, kernel: str, view: str = "sass",
                   pattern: str | None = None, context: int = 2, histogram: bool = True,
                   max_matches: int = 50) -> str:
    """PTX/SASS/IR of one compiled kernel: histogram, local-memory evidence, regex search."""
    build = report.kernel(kernel)
    if build is None:
        names = ", ".join(k.label for k in report.kernels) or "none"
        return f"no compiled kernel named {kernel!r}; compiled kernels: {names}"
    if view not in INSPECT_VIEWS:
        return f"unknown view {view!r}; choose one of {', '.join(INSPECT_VIEWS)}"
    if view not in build.artifacts:
        return f"kernel {build.label} has no {view} (kept: {', '.join(build.artifacts) or 'none'})"
    text = read_artifact(build.artifacts[view])
    lines = [f"{view.upper()} of {build.label} ({report.target}): {build.artifacts[view]}"]
    if histogram and view in ("sass", "ptx"):
        lines.append("instruction histogram (" + ("grouped by opcode, matrix shapes and memory "
                     "widths kept" if view == "sass" else "by full PTX opcode") + "):")
        lines.append(disasm.histogram_text(disasm.histogram(text, view)))
    if view == "sass":
        ptx = read_artifact(build.artifacts["ptx"]) if "ptx" in build.artifacts else None
        lines.append(disasm.local_memory_text(disasm.local_memory(text, ptx)))
        if build.resources:
            lines.append("resources: " + build.resources.text())
    if pattern:
        lines.append(f"search {pattern!r} (context {context}):")
        lines.append(disasm.search(text, pattern, context, max_matches))
    elif not histogram:
        lines.append(text)
    return "\n".join(lines)


def read_artifact(value: str) -> str:
    """An artifact is a path once kept on disk, or still its content."""
    if "\n" not in value and len(value) < 4096 and Path(value).is_file():
        return Path(value).read_text(errors="replace")
    return value
