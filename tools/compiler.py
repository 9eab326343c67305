"""The compile task: build a candidate's kernels for a GPU architecture and measure them.

Run by name (`kernel_agent.tools.compiler:run`) inside the sandbox. For a Triton candidate it
records the kernel launches of one run on the problem's inputs (for real on a GPU, under the
interpreter otherwise), compiles each distinct launch for the target (the GPU present, else
sm_90) and reports registers, spills, shared memory, occupancy and SASS highlights, returning
TTIR, TTGIR, LLIR, PTX, cubin and SASS for the host to keep. CUDA C++ candidates build
themselves (load_inline, nvcc) and need a GPU host.

The interpreter and the compiler cannot share a Python: once triton is imported in one mode its
own jit functions (tl.cdiv, ...) stay in that mode. So whichever of the two this process cannot
do runs in a fresh Python: the interpreter run when this process's triton compiles (or is not
imported yet), the compilation when it interprets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from time import perf_counter
from types import ModuleType
from typing import Any

from kernel_agent.tools import compile_errors, launches
from kernel_agent.tools.build_report import BuildReport, KernelBuild
from kernel_agent.tools.compile_launches import LaunchCompiler, import_candidate
from kernel_agent.tools.problem import SpecError
from kernel_agent.tools.triton_build import Target
from kernel_agent.tools.verdict import ErrorInfo

COMPILE_DEFAULTS: dict[str, Any] = {
    "target": None,  # None: the GPU present, else DEFAULT_TARGET
    "max_variants": 4,  # compiled variants per kernel, the most recently launched first
    "child_timeout_s": 300,
}
DEFAULT_TARGET = "sm_90"
CUDA_MARKERS = ("load_inline", "cpp_extension")


def run(payload: dict[str, Any]) -> dict[str, Any]:
    """Sandbox task entry point: problem, candidate and options in, a BuildReport dict out."""
    started = perf_counter()
    interprets = triton_interprets()
    if interprets:  # kernels defined from now on must be interpreted like triton's own
        os.environ["TRITON_INTERPRET"] = "1"
    else:
        os.environ.pop("TRITON_INTERPRET", None)
    from kernel_agent.tools.verify import PAYLOAD_DEFAULTS

    options = {**PAYLOAD_DEFAULTS, **COMPILE_DEFAULTS, **payload}
    with tempfile.TemporaryDirectory(prefix="compile-") as tmp:
        report = Compilation(options, Path(tmp), interprets).report()
    report.elapsed_s = round(perf_counter() - started, 3)
    return report.to_dict()


def triton_interprets() -> bool:
    """Whether this process's triton was imported in interpreter mode."""
    if "triton" not in sys.modules:
        return False
    import triton.language as tl

    return type(tl.cdiv).__name__ == "InterpretedFunction"


def gpu_capability() -> int | None:
    import torch

    if not torch.cuda.is_available():
        return None
    major, minor = torch.cuda.get_device_capability()
    return 10 * major + minor


def run_child(module: str, request: dict[str, Any], workdir: Path, env: dict[str, str],
              timeout_s: float) -> dict[str, Any]:
    """Run `python -m module REQUEST RESULT` and return its result, or an `error` entry."""
    request_path, result_path = workdir / f"{module}.request.json", workdir / f"{module}.json"
    log = workdir / f"{module}.log"
    request_path.write_text(json.dumps(request))
    with open(log, "wb") as out:
        try:
            done = subprocess.run([sys.executable, "-m", module, str(request_path),
                                   str(result_path)], env=env, stdout=out,
                                  stderr=subprocess.STDOUT, timeout=timeout_s, cwd=workdir)
        except subprocess.TimeoutExpired:
            return {"error": {"kind": "timeout", "message": f"{module} ran over {timeout_s} s"}}
    if done.returncode != 0 or not result_path.exists():
        return {"error": {"kind": "child_failed", "message": f"{module} exited with code "
                          f"{done.returncode} and no result",
                          "excerpt": log.read_text(errors="replace")[-1500:]}}
    return json.loads(result_path.read_text())


class Compilation:
    """One candidate's compilation, from launch capture to measured kernels."""

    def __init__(self, options: dict[str, Any], workdir: Path, interprets: bool) -> None:
        self.options, self.workdir, self.interprets = options, workdir, interprets
        self.candidate = options["candidate"]
        self.capability = gpu_capability()
        self.module: ModuleType | None = None  # the candidate, when captured in this process

    def report(self) -> BuildReport:
        try:
            target = Target.parse(self.options["target"] or (
                f"sm_{self.capability}" if self.capability else DEFAULT_TARGET))
        except ValueError as exc:
            return BuildReport("bad_input", error=ErrorInfo("bad_target", str(exc)))
        if any(marker in self.candidate["text"] for marker in CUDA_MARKERS):
            from kernel_agent.tools.cuda_build import build_cuda

            return build_cuda(self.options, self.workdir, target, self.capability)
        return self.build_triton(target)

    def build_triton(self, target: Target) -> BuildReport:
        report = BuildReport("ok", backend="triton", target=target.arch)
        text, path = self.candidate["text"], self.candidate["path"]
        try:
            compile(text, path, "exec")
        except SyntaxError as exc:  # no need to start a run to find this
            report.status = "compile_error"
            report.error = ErrorInfo("load_error", f"syntax error: {exc.msg}", path, exc.lineno,
                                     compile_errors.excerpt(text, exc.lineno))
            return report
        captured = self.capture(report)
        if captured.get("error"):
            info = ErrorInfo(**captured["error"])
            report.status = "bad_input" if info.kind == "bad_problem" else "compile_error"
            report.error = info
            return report
        compiled = self.compile(captured["launches"], target)
        if compiled.get("error"):
            report.status, report.error = "compile_error", ErrorInfo(**compiled["error"])
            return report
        report.kernels = [KernelBuild.from_dict(k) for k in compiled["kernels"]]
        report.notes += compiled["notes"]
        report.versions = {"triton": triton_version()}
        self.settle_status(report, captured)
        return report

    def settle_status(self, report: BuildReport, captured: dict[str, Any]) -> None:
        run_error = ErrorInfo(**captured["run_error"]) if captured.get("run_error") else None
        if not captured["launches"]:
            report.status = "run_error" if run_error else "compile_error"
            report.run_error = run_error
            if run_error is None:
                report.error = ErrorInfo("no_kernel_launched", "the candidate launched none of "
                                         "its own Triton kernels (module-level @triton.jit)")
        elif any(k.error for k in report.kernels):
            report.status = "compile_error"
            if run_error:
                report.notes.append("running the candidate failed as well; the compile error "
                                    "above is the cause to fix first")
        elif run_error:
            report.status, report.run_error = "run_error", run_error

    def capture(self, report: BuildReport) -> dict[str, Any]:
        """The launches of one run, in this process when it can, else in a fresh Python."""
        report.capture = ("launches recorded from a real run on this GPU" if self.capability
                          and not self.interprets else "launches recorded under the Triton "
                          "interpreter" + ("" if self.capability else " on the problem's small "
                                           "inputs; no GPU here"))
        if self.interprets or self.capability is not None:
            self.module, captured = launches.capture(self.options, self.workdir / "capture")
            return captured
        return run_child("kernel_agent.tools.launches", self.options, self.workdir,
                         {**os.environ, "TRITON_INTERPRET": "1"},
                         self.options["child_timeout_s"])

    def compile(self, recorded: list[dict[str, Any]], target: Target) -> dict[str, Any]:
        """KernelBuild dicts for the recorded launches, compiled where triton compiles."""
        private = [self.workdir / "capture" / "candidate" / Path(self.candidate["path"]).name]
        if self.interprets:
            env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
            request = {"options": self.options, "launches": recorded, "target": target.arch,
                       "private_paths": [str(p) for p in private]}
            return run_child("kernel_agent.tools.compile_launches", request, self.workdir, env,
                             self.options["child_timeout_s"])
        module = self.module
        if module is None:
            try:
                module, file = import_candidate(self.candidate, self.workdir / "compile")
            except SpecError as exc:
                return {"error": {"kind": "load_error", "message": str(exc), "file": exc.path,
                                  "line": exc.line}}
            private.append(file)
        compiler = LaunchCompiler(module, self.candidate, target, private)
        builds = compiler.compile_all(recorded, self.options["max_variants"])
        return {"kernels": [b.to_dict() for b in builds], "notes": compiler.notes}


def triton_version() -> str:
    import triton

    return triton.__version__
