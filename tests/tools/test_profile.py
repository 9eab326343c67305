"""The profile tool: Nsight Compute on real kernels (GPU hosts with ncu) — a memory-bound copy
and a tl.dot matmul — and, on any machine, the ncu invocation and its log with a stand-in ncu.

Without a GPU the tool's answer is "not available" (see test_langchain_tools.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel_agent.sandbox import Sandbox
from kernel_agent.tools.host_tools import profile_sources
from kernel_agent.tools.ncu import ProfileReport
from tests.tools.helpers import source


def profiled(sandbox: Sandbox, problem: str, candidate: str, folder: Path) -> ProfileReport:
    report = profile_sources(source(problem), source(candidate), output_dir=folder,
                             sandbox=sandbox)
    assert report.status == "ok", report.summary()
    return report


@pytest.mark.gpu
def test_copy_is_memory_bound_and_timed_like_cuda_events(sandbox: Sandbox,
                                                         tmp_path: Path) -> None:
    report = profiled(sandbox, "copy_problem.py", "copy_vectorised.py", tmp_path)
    (kernel,) = report.kernels
    assert kernel.name == "copy_kernel" and kernel.launches == report.calls
    assert kernel.dram_pct > 50, report.summary()
    assert kernel.dram_pct > kernel.sm_pct
    deviation = abs(report.kernel_ms_per_call - report.event_ms_per_call)
    assert deviation <= 0.10 * report.event_ms_per_call, report.summary()
    assert kernel.registers and kernel.achieved_occupancy_pct and kernel.stalls
    assert Path(report.csv).read_text().startswith('"ID"')


@pytest.mark.gpu
def test_tl_dot_matmul_is_compute_bound(sandbox: Sandbox, tmp_path: Path) -> None:
    report = profiled(sandbox, "matmul_problem.py", "matmul_dot.py", tmp_path)
    (kernel,) = report.kernels
    assert kernel.sm_pct > kernel.dram_pct, report.summary()
    assert kernel.shared_bytes_per_block and kernel.shared_bytes_per_block > 0
    if kernel.roofline and kernel.roofline.bound_side:
        assert kernel.roofline.bound_side == "compute", report.summary()


FAKE_NCU = '''#!{python}
"""Stands in for ncu: lists metrics, or writes a canned CSV to --log-file and notes argv."""
import json, os, sys
args = sys.argv[1:]
if "--query-metrics" in args:
    print("dram__bytes   Counter   # of bytes accessed in DRAM")
    print("sm__ops_path_tensor_src_fp16_dst_fp32   Counter   # of math ops")
    sys.exit(0)
open(os.environ["FAKE_NCU_ARGV"], "w").write(json.dumps(args))
log = args[args.index("--log-file") + 1]
open(log, "w").write(open(os.environ["FAKE_NCU_OUTPUT"]).read())
'''


@pytest.fixture
def fake_ncu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import sys

    tool = tmp_path / "ncu"
    tool.write_text(FAKE_NCU.format(python=sys.executable))
    tool.chmod(0o755)
    monkeypatch.setenv("FAKE_NCU_ARGV", str(tmp_path / "argv.json"))
    return tool


def test_ncu_run_is_parsed_into_a_report(fake_ncu: Path, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The ncu invocation and its log, with a stand-in ncu (this part needs no GPU)."""
    import json

    from kernel_agent.tools.profiler import Profiling
    from tests.tools.helpers import DATA

    monkeypatch.setenv("FAKE_NCU_OUTPUT", str(DATA / "ncu" / "raw_page.csv"))
    options = {"problem": source("copy_problem.py"), "candidate": source("copy_vectorised.py"),
               "calls": 3, "warmup_calls": 2, "ncu_timeout_s": 60}
    report = Profiling(options, tmp_path, str(fake_ncu)).run_ncu({"copy_kernel"}, 2, 3)
    assert report.status == "ok", report.summary()
    assert [k.name for k in report.kernels] == ["copy_kernel", "matmul_kernel"]
    assert report.csv.startswith('"ID"') and "==PROF==" not in report.csv
    argv = json.loads((tmp_path / "argv.json").read_text())
    assert argv[argv.index("--launch-skip") + 1] == "2"
    assert argv[argv.index("--launch-count") + 1] == "3"
    assert argv[-3:-1] == ["-m", "kernel_agent.tools.profile_driver"]
    metrics = argv[argv.index("--metrics") + 1].split(",")
    assert "sm__ops_path_tensor_src_fp16_dst_fp32.sum" in metrics
    assert "smsp__sass_thread_inst_executed_op_ffma_pred_on.sum" not in metrics


def test_ncu_without_counter_permission_is_not_available(fake_ncu: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from kernel_agent.tools.profiler import Profiling

    denied = tmp_path / "denied.txt"
    denied.write_text("==PROF== Connected to process 1\n==ERROR== ERR_NVGPUCTRPERM - The user "
                      "does not have permission to access NVIDIA GPU Performance Counters\n")
    monkeypatch.setenv("FAKE_NCU_OUTPUT", str(denied))
    options = {"problem": source("copy_problem.py"), "candidate": source("copy_vectorised.py"),
               "calls": 3, "warmup_calls": 2, "ncu_timeout_s": 60}
    report = Profiling(options, tmp_path, str(fake_ncu)).run_ncu({"copy_kernel"}, 2, 3)
    assert report.status == "not_available" and "ERR_NVGPUCTRPERM" in report.reason
