"""Compiling recorded launches in this process: spills and ptxas failures, with real ptxas.

`maxnreg` caps the registers ptxas may use: on sm_80 a tl.dot tile then spills to local memory;
on sm_90 wgmma needs more registers than that and ptxas refuses.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel_agent.tools import launches
from kernel_agent.tools.build_report import BuildReport, KernelBuild
from kernel_agent.tools.compile_launches import LaunchCompiler, import_candidate
from kernel_agent.tools.triton_build import Target
from tests.tools.helpers import source

torch = pytest.importorskip("torch")


def build_with_maxnreg(target: str, directory: Path) -> KernelBuild:
    candidate = source("matmul_dot.py")
    module, file = import_candidate(candidate, directory)
    a, b, c = (torch.empty(64, 64, dtype=torch.float16) for _ in range(3))
    args = {"a_ptr": a, "b_ptr": b, "c_ptr": c, "M": 64, "N": 64, "K": 64, "stride_am": 64,
            "stride_ak": 1, "stride_bk": 64, "stride_bn": 1, "stride_cm": 64, "stride_cn": 1,
            "BLOCK_M": 64, "BLOCK_N": 64, "BLOCK_K": 32}
    launch = {"kernel": "matmul_kernel", "args": {k: launches.describe(v) for k, v in args.items()},
              "options": {"num_warps": 4, "maxnreg": 32}, "grid": [1, 1], "count": 1, "last": 1}
    compiler = LaunchCompiler(module, candidate, Target.parse(target), [file])
    (build,) = compiler.compile_all([launch], max_variants=4)
    return build


def test_register_cap_shows_as_spills(tmp_path: Path) -> None:
    build = build_with_maxnreg("sm_80", tmp_path)
    assert build.error is None
    assert build.resources.registers <= 32
    assert build.resources.spill_stores > 0 and build.resources.spill_loads > 0
    assert build.local_memory["sass_stl"] > 0 and build.local_memory["ptx_local_bytes"] == 0
    text = BuildReport("ok", target="sm_80", kernels=[build]).summary()
    assert "the PTX has no .local, so these are register spills by ptxas" in text


def test_ptxas_refusal_is_reported_in_a_few_lines(tmp_path: Path) -> None:
    build = build_with_maxnreg("sm_90", tmp_path)
    assert build.error is not None and build.resources is None
    assert "Insufficient registers" in build.error.message
    assert "Repro command" not in build.error.message and len(build.error.message) <= 820
