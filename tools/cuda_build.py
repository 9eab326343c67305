"""Compile report for CUDA C++ candidates (torch.utils.cpp_extension.load_inline), GPU hosts only.

The candidate builds itself with nvcc when imported or first run; this module lets it, keeps the
first compiler error (located in the candidate's file where the echoed source line allows), and
reads registers, shared and local memory and SASS of its __global__ functions from the built
extension with cuobjdump.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from kernel_agent.tools import compile_errors, disasm, integrity
from kernel_agent.tools.build_report import BuildReport, KernelBuild, Resources
from kernel_agent.tools.cpu_verdict import NEEDS_GPU_HOST
from kernel_agent.tools.occupancy import limits_for, occupancy_table
from kernel_agent.tools.triton_build import TOP_OPCODES, Target
from kernel_agent.tools.verdict import ErrorInfo

FATBIN_SECTIONS = (b".nv_fatbin", b".nvFatBinSegment")  # where nvcc puts device code
SASS_FUNCTION = re.compile(r"^\s*Function : (\S+)\s*$", re.M)


def nvcc_path() -> str | None:
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH") or "/usr/local/cuda"
    candidate = Path(home) / "bin" / "nvcc"
    return shutil.which("nvcc") or (str(candidate) if candidate.exists() else None)


def build_cuda(options: dict[str, Any], workdir: Path, target: Target,
               capability: int | None) -> BuildReport:
    from kernel_agent.tools.verify import CandidateError, Verification

    report = BuildReport("not_available", backend="cuda", target=target.arch)
    if capability is None:
        report.error = ErrorInfo("not_available", f"not available: {NEEDS_GPU_HOST} (this "
                                 "machine has no GPU for nvcc to build for)")
        return report
    if nvcc_path() is None:
        report.error = ErrorInfo("not_available", "not available: no nvcc found (set CUDA_HOME "
                                 "or put nvcc on PATH)")
        return report
    if target.capability != capability:
        report.notes.append(f"load_inline builds for the GPU present (sm_{capability}); the "
                            f"requested {target.arch} was not used")
    report.target = f"sm_{capability}"
    report.capture = "built by the candidate's own load_inline on this GPU"
    text, path = options["candidate"]["text"], options["candidate"]["path"]
    before = set(sys.modules)
    verification = Verification(options, workdir)
    report.status = "ok"
    try:
        verification.load_problem()
        verification.take_snapshots()
        verification.load_candidate()
        verification.build_models()
        verification.call_candidate(verification.make_inputs(options["seed"]))
    except CandidateError as exc:
        if "Error building extension" in str(exc):  # nvcc's or the C++ compiler's errors
            report.status = "compile_error"
            report.error = compile_errors.nvcc_error(str(exc), text, path)
            return report
        info = ErrorInfo(exc.kind, exc.message_text(), exc.file, exc.line, exc.excerpt)
        if exc.stage == "load_candidate":
            report.status, report.error = "compile_error", info
            return report
        report.status, report.run_error = "run_error", info
    names = integrity.CUDA_KERNEL_NAME.findall(text)
    for library in extension_files(before, getattr(verification, "candidate_module", None)):
        report.kernels.extend(kernels_of(library, names, capability))
    if not report.kernels:
        report.notes.append("no __global__ function of the candidate was found in a built "
                            "extension")
    return report


def extension_files(before: set[str], candidate: ModuleType | None) -> list[Path]:
    """Shared libraries with device code that the candidate loaded: its CUDA extensions.

    load_inline returns the extension module without entering it in sys.modules, so the
    candidate's own globals are searched as well as the modules imported since `before`. Other
    host-only libraries loaded on the way (Triton's launcher stubs) are refused by cuobjdump;
    nvcc's fat binary sections tell the two apart.
    """
    modules = [sys.modules[name] for name in set(sys.modules) - before]
    if candidate is not None:
        modules += [value for value in vars(candidate).values() if isinstance(value, ModuleType)]
    found: list[Path] = []
    for module in modules:
        file = getattr(module, "__file__", None) or ""
        if file.endswith(".so") and Path(file) not in found and has_device_code(Path(file)):
            found.append(Path(file))
    return found


def has_device_code(library: Path) -> bool:
    data = library.read_bytes()
    return any(section in data for section in FATBIN_SECTIONS)


def kernels_of(library: Path, names: list[str], capability: int) -> list[KernelBuild]:
    data = library.read_bytes()
    usage = disasm.resource_usage(data, ".so")
    sass = disasm.with_binary(data, ".so", [disasm.nvidia_tool("cuobjdump"), "-sass", "{}"])
    per_function = split_sass(sass)
    builds = []
    for function, fields in usage.items():
        if names and not any(name in function for name in names):
            continue
        resources = Resources(registers=fields.get("REG", 0),
                              shared_bytes=fields.get("SHARED", 0),
                              stack_bytes=fields.get("STACK", 0),
                              local_bytes=fields.get("LOCAL", 0))
        code = per_function.get(function, "")
        counts = disasm.histogram(code, "sass")
        limits = limits_for(capability)
        builds.append(KernelBuild(
            function, resources=resources,
            occupancy=[{**o.to_dict(), "arch": limits.capability} for o in occupancy_table(
                resources.registers, resources.shared_bytes, limits)],
            sass_highlights=disasm.highlights(counts), sass_top=counts.most_common(TOP_OPCODES),
            local_memory=disasm.local_memory(code),
            artifacts={"sass": code}))
    return builds


def split_sass(sass: str) -> dict[str, str]:
    """cuobjdump -sass output cut into one text per function."""
    marks = list(SASS_FUNCTION.finditer(sass))
    return {m[1]: sass[m.start():marks[i + 1].start() if i + 1 < len(marks) else len(sass)]
            for i, m in enumerate(marks)}
