"""The compile tool end to end through the local sandbox, with Triton's real compiler.

On a machine without a GPU the launches come from the interpreter; the kernels are still built
for sm_90 / sm_80 with ptxas and disassembled with nvdisasm from Triton's wheel.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kernel_agent.sandbox import Sandbox
from kernel_agent.tools import disasm
from kernel_agent.tools.build_report import BuildReport
from kernel_agent.tools.host_tools import compile_sources, load_build
from kernel_agent.tools.occupancy import limits_for, occupancy
from tests.tools.helpers import DATA, compiled, line_of, source


def sass_counts(report: BuildReport, kernel: str) -> dict[str, int]:
    build = report.kernel(kernel)
    assert build is not None, report.summary()
    return dict(disasm.histogram(Path(build.artifacts["sass"]).read_text(), "sass"))


def test_tl_dot_for_sm90_uses_wgmma(dot_sm90: BuildReport) -> None:
    assert dot_sm90.status == "ok", dot_sm90.summary()
    assert dot_sm90.target == "sm_90a"
    counts = sass_counts(dot_sm90, "matmul_kernel")
    assert any(op.startswith("HGMMA.") for op in counts), counts
    ptx = Path(dot_sm90.kernel("matmul_kernel").artifacts["ptx"]).read_text()
    assert "wgmma.mma_async" in ptx


def test_tl_dot_for_sm80_uses_mma_sync(sandbox: Sandbox, tmp_path: Path) -> None:
    report = compiled(sandbox, "matmul_problem.py", "matmul_dot.py", tmp_path, "sm_80")
    assert report.status == "ok", report.summary()
    counts = sass_counts(report, "matmul_kernel")
    assert any(op.startswith("HMMA.") for op in counts), counts
    assert not any(op.startswith("HGMMA") for op in counts)


def test_resources_are_measured_and_occupancy_follows(dot_sm90: BuildReport) -> None:
    build = dot_sm90.kernel("matmul_kernel")
    assert build.resources is not None
    assert 16 < build.resources.registers <= 255
    assert build.resources.spill_stores == 0 and build.resources.spill_loads == 0
    assert build.resources.shared_bytes > 0  # tl.dot operands are staged in shared memory
    launched = build.occupancy[0]
    assert launched["num_warps"] == build.num_warps
    expected = occupancy(build.resources.registers, build.resources.shared_bytes,
                         build.num_warps, limits_for(90))
    assert launched["blocks_per_sm"] == expected.blocks_per_sm > 0
    text = dot_sm90.summary()
    assert f"{build.resources.registers} registers/thread" in text
    assert "occupancy (sm_90 limits)" in text


def test_artifacts_are_kept_on_disk(dot_sm90: BuildReport) -> None:
    build = dot_sm90.kernel("matmul_kernel")
    assert set(build.artifacts) == {"ttir", "ttgir", "llir", "ptx", "cubin", "sass"}
    assert Path(build.artifacts["cubin"]).read_bytes()[:4] == b"\x7fELF"
    assert "tt.dot" in Path(build.artifacts["ttir"]).read_text()
    kept = load_build(Path(dot_sm90.artifacts_dir))
    assert kept.kernel("matmul_kernel").resources == build.resources
    sass = Path(build.artifacts["sass"]).read_text()
    assert f"{Path(DATA / 'matmul_dot.py').name}:{line_of('matmul_dot.py', 'tl.dot(')}" in sass


def test_launch_is_recorded_as_the_candidate_made_it(copy_build: BuildReport) -> None:
    build = copy_build.kernel("copy_kernel")
    assert build.launches == 1 and build.num_warps == 4 and build.num_stages == 3
    assert build.signature["x_ptr"] == "*fp32" and build.signature["n"] == "i32"
    assert build.constexprs == {"BLOCK": "1024"}
    torch = pytest.importorskip("torch")
    elements = (1 << 26) if torch.cuda.is_available() else 6144
    assert build.grid == [elements // 1024]


def test_vectorised_copy_uses_128_bit_loads(copy_build: BuildReport) -> None:
    assert copy_build.status == "ok", copy_build.summary()
    counts = sass_counts(copy_build, "copy_kernel")
    assert counts.get("LDG.E.128", 0) >= 1 and counts.get("STG.E.128", 0) >= 1, counts
    assert not any(op in counts for op in ("LDG.E", "LDL", "STL"))
    assert copy_build.kernel("copy_kernel").sass_highlights["global_load_128"] >= 1


def test_python_syntax_error_names_the_line(sandbox: Sandbox, tmp_path: Path) -> None:
    report = compiled(sandbox, "copy_problem.py", "syntax_error.py", tmp_path)
    assert report.status == "compile_error"
    assert report.error.line == line_of("syntax_error.py", "x = tl.load(")
    assert report.error.file.endswith("syntax_error.py")
    assert ">" in report.error.excerpt


def test_triton_type_error_names_the_candidate_line(sandbox: Sandbox, tmp_path: Path) -> None:
    report = compiled(sandbox, "matmul_problem.py", "dot_shape_error.py", tmp_path)
    assert report.status == "compile_error", report.summary()
    error = report.kernel("matmul_kernel").error
    assert error.line == line_of("dot_shape_error.py", "tl.dot(a, b)")
    assert error.file.endswith("dot_shape_error.py")
    assert 0 < len(error.message) <= 800 and "Traceback" not in error.message
    assert len(report.summary().splitlines()) < 25


def test_construct_the_compiler_rejects_names_its_line(sandbox: Sandbox, tmp_path: Path) -> None:
    """`break` runs under the interpreter but Triton's compiler does not support it."""
    report = compiled(sandbox, "copy_problem.py", "unsupported_construct.py", tmp_path)
    error = report.kernel("scale_kernel").error
    assert error.kind == "unsupported_construct"
    assert error.line == line_of("unsupported_construct.py", "    break")


def test_unknown_target_is_refused_before_any_work() -> None:
    report = compile_sources(source("copy_problem.py"), source("copy_vectorised.py"),
                             target="volta")
    assert report.status == "bad_input" and "sm_90" in report.error.message


def test_cuda_candidate_without_gpu_is_not_available(sandbox: Sandbox) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the gpu tests build CUDA candidates")
    report = compile_sources(source("copy_problem.py"), source("cuda_copy.py"), sandbox=sandbox)
    assert report.status == "not_available"
    assert "not available: CUDA C++ needs a GPU host; write Triton here" in report.summary()


@pytest.mark.gpu
def test_gpu_capture_matches_triton_own_register_count(copy_build: BuildReport) -> None:
    import importlib.util

    import torch

    assert "real run" in copy_build.capture
    spec = importlib.util.spec_from_file_location("copy_candidate", DATA / "copy_vectorised.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    x = torch.randn(1 << 20, device="cuda")
    kernel = module.copy_kernel.warmup(x, torch.empty_like(x), x.numel(), BLOCK=1024,
                                       num_warps=4, grid=(1,))
    kernel._init_handles()
    assert copy_build.kernel("copy_kernel").resources.registers == kernel.n_regs


@pytest.mark.gpu
def test_gpu_cuda_candidate_reports_its_kernel(sandbox: Sandbox, tmp_path: Path) -> None:
    report = compiled(sandbox, "copy_problem.py", "cuda_copy.py", tmp_path)
    assert report.status == "ok", report.summary()
    assert report.backend == "cuda"
    assert any("copy_kernel" in k.name and k.resources.registers > 0 for k in report.kernels)


def test_worker_whose_triton_interprets_compiles_in_a_fresh_python() -> None:
    """A sandbox worker that imported triton in interpreter mode records launches itself and
    leaves compilation to a child Python, since its own triton cannot compile."""
    script = (
        "import json, os, sys\n"
        "os.environ['TRITON_INTERPRET'] = '1'\n"
        "import triton.language\n"
        "from kernel_agent.tools.compiler import run\n"
        "json.dump(run(json.loads(sys.stdin.read())), sys.stdout)\n")
    payload = {"problem": source("copy_problem.py"), "candidate": source("copy_vectorised.py"),
               "target": "sm_90"}
    done = subprocess.run([sys.executable, "-c", script], input=json.dumps(payload),
                          capture_output=True, text=True, timeout=300, check=True)
    report = BuildReport.from_dict(json.loads(done.stdout))
    assert report.status == "ok", report.summary()
    assert report.capture.startswith("launches recorded under the Triton interpreter")
    assert report.kernel("copy_kernel").sass_highlights["global_load_128"] >= 1


def test_cuda_extensions_are_found_through_the_candidate_and_host_stubs_left_out(
        tmp_path: Path) -> None:
    """load_inline's module is not in sys.modules; Triton's launcher stubs have no device code
    (cuobjdump fails on them), so only libraries carrying nvcc's fat binary are read."""
    import sys
    from types import ModuleType

    from kernel_agent.tools.cuda_build import extension_files

    def module(name: str, data: bytes) -> ModuleType:
        library = tmp_path / f"{name}.so"
        library.write_bytes(data)
        made = ModuleType(name)
        made.__file__ = str(library)
        return made

    candidate = ModuleType("candidate")
    candidate.extension = module("extension", b"\x7fELF\0\0.nvFatBinSegment\0.nv_fatbin\0")
    candidate.launcher = module("launcher", b"\x7fELF\0\0.text\0.data\0")
    assert extension_files(set(sys.modules), candidate) == [tmp_path / "extension.so"]
    assert extension_files(set(sys.modules), None) == []
