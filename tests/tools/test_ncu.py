"""Parsing Nsight Compute's CSV into findings, and the ncu command line, without a GPU.

The sample (tests/data/tools/ncu/raw_page.csv) follows `ncu --csv --page raw`: a header of
launch identity columns and metric names, a units row, one row per launch, values with
thousands separators, and ==PROF== lines mixed in. Its numbers are chosen like an H100's: a
copy kernel launched three times and a tensor-core matmul.
"""

from __future__ import annotations

import re

import pytest

from kernel_agent.tools import ncu
from tests.tools.helpers import DATA

RAW = (DATA / "ncu" / "raw_page.csv").read_text()


def profiles() -> dict[str, ncu.KernelProfile]:
    return {p.name: p for p in ncu.kernel_profiles(ncu.parse_csv(RAW))}


def test_units_and_separators_become_base_units() -> None:
    launches = ncu.parse_csv(RAW)
    assert [launch.kernel for launch in launches] == ["copy_kernel"] * 3 + ["matmul_kernel"]
    first = launches[0].metrics
    assert first["gpu__time_duration.sum"] == pytest.approx(178_900)  # usecond -> ns
    assert first["dram__bytes.sum"] == pytest.approx(536.87e6)  # Mbyte -> bytes
    assert first["sm__cycles_elapsed.avg.per_second"] == pytest.approx(1.76e9)  # per ns -> /s
    assert first["launch__grid_size"] == 65536  # "65,536"
    assert launches[3].metrics["launch__shared_mem_per_block_dynamic"] == pytest.approx(98_300)


def test_memory_bound_copy_findings() -> None:
    copy = profiles()["copy_kernel"]
    assert copy.launches == 3
    assert copy.duration_ns == pytest.approx((178_900 + 179_100 + 178_800) / 3)
    assert copy.dram_pct == pytest.approx(90.8, abs=0.05) and copy.sm_pct == pytest.approx(12.31)
    assert copy.bottleneck() == "memory-bound"
    assert copy.occupancy_limiters == ["registers", "warps"]
    assert [reason for reason, _ in copy.stalls] == ["long_scoreboard", "wait", "lg_throttle"]
    assert copy.l1_hit_pct == 0 and copy.l2_hit_pct == pytest.approx(0.4, abs=0.01)
    assert copy.roofline.ops == 0 and "pure data movement" in copy.roofline.text()


def test_compute_bound_matmul_and_its_roofline() -> None:
    matmul = profiles()["matmul_kernel"]
    assert matmul.bottleneck() == "compute-bound"
    assert matmul.registers == 168 and matmul.shared_bytes_per_block == 98_300
    assert matmul.occupancy_limiters == ["registers", "shared memory"]
    assert matmul.theoretical_occupancy_pct == 12.5 and matmul.achieved_occupancy_pct == 12.1
    assert [reason for reason, _ in matmul.stalls] == ["math_pipe_throttle", "wait", "barrier"]
    roof = matmul.roofline
    assert roof.kind == "tensor"
    assert roof.intensity == pytest.approx(137_438_953_472 / 150.01e6)
    assert roof.ridge == pytest.approx(563_200 * 1.76e9 / (1280 * 2.62e9))
    assert roof.bound_side == "compute"
    assert roof.achieved_ops_per_s / roof.peak_ops_per_s == pytest.approx(0.809, abs=0.002)
    assert "81% of the roof" in roof.text()


def hopper_matmul(extra: dict[str, float]) -> ncu.Launch:
    """A wgmma matmul as an H100 reports it: tensor work only under the `src_fp16` path."""
    return ncu.Launch("matmul_kernel", {
        "gpu__time_duration.sum": 230_000.0, "dram__bytes.sum": 209e6,
        "sm__ops_path_tensor_src_fp16.sum": 137_438_953_472.0,
        "sm__ops_path_tensor_src_fp16.sum.peak_sustained": 540_672.0,
        "sm__cycles_elapsed.avg.per_second": 1.755e9,
        "dram__bytes.sum.peak_sustained": 1280.0, "dram__cycles_elapsed.avg.per_second": 2.62e9,
        **extra})


def test_hopper_wgmma_counts_as_tensor_work_once() -> None:
    roof = ncu.roofline([hopper_matmul({})], 230e-6)
    assert roof.kind == "tensor" and roof.ops == 137_438_953_472.0
    assert roof.bound_side == "compute"
    both = ncu.roofline([hopper_matmul({"sm__ops_path_tensor_src_fp16_dst_fp32.sum": 5.0})],
                        230e-6)
    assert both.ops == 5.0, "a chip with per-accumulator paths is read through those alone"


def test_details_page_gives_the_same_metrics() -> None:
    header = ('"ID","Process ID","Process Name","Host Name","Kernel Name","Context","Stream",'
              '"Block Size","Grid Size","Device","CC","Section Name","Metric Name",'
              '"Metric Unit","Metric Value"')
    rows = [f'"0","1","python","h","copy_kernel","1","7","(128, 1, 1)","(8, 1, 1)","0","9.0",'
            f'"{section}","{name}","{unit}","{value}"' for section, name, unit, value in (
                ("GPU Speed Of Light Throughput", "gpu__time_duration.sum", "msecond", "1.50"),
                ("GPU Speed Of Light Throughput",
                 "dram__throughput.avg.pct_of_peak_sustained_elapsed", "%", "88.10"),
                ("Launch Statistics", "launch__registers_per_thread", "register/thread", "18"))]
    (profile,) = ncu.kernel_profiles(ncu.parse_csv("\n".join([header, *rows])))
    assert profile.duration_ns == 1.5e6 and profile.dram_pct == 88.1 and profile.registers == 18
    assert profile.grid == "(8, 1, 1)"


def test_output_without_a_table_is_an_error() -> None:
    with pytest.raises(ncu.NcuOutputError):
        ncu.parse_csv("==ERROR== ERR_NVGPUCTRPERM - The user does not have permission")


def test_command_filters_the_candidate_kernels_and_skips_warm_up() -> None:
    regex = ncu.kernel_regex(["copy_kernel", "scale_kernel"])
    for name in ("copy_kernel", "void ns::copy_kernel<256>(float const*, float*)",
                 "scale_kernel"):
        assert re.search(regex, name), name
    for name in ("copy_kernel2", "my_copy_kernel", "elementwise_kernel"):
        assert not re.search(regex, name), name
    cmd = ncu.command("/usr/local/cuda/bin/ncu", regex, 6, 9, ["gpu__time_duration.sum"],
                      "/tmp/ncu.log", ["python", "-m", "driver"])
    text = " ".join(cmd)
    assert "--launch-skip 6 --launch-count 9 --clock-control none" in text
    assert [cmd[i + 1] for i, a in enumerate(cmd) if a == "--section"] == list(ncu.SECTIONS)
    assert "--csv --page raw" in text and f"regex:{regex}" in cmd
    assert cmd[-3:] == ["python", "-m", "driver"]


def test_metrics_are_asked_for_only_where_the_gpu_has_them() -> None:
    listing = (
        "Device NVIDIA H100 80GB HBM3 (GH100)\n"
        "Metric Name                                   Metric Type  Metric Description\n"
        "dram__bytes                                   Counter      # of bytes accessed in DRAM\n"
        "sm__ops_path_tensor_src_fp16_dst_fp32         Counter      # of math ops ...\n"
        "gpu__time_duration                            Counter      total duration\n")
    available = ncu.parse_metric_list(listing)
    assert available == {"dram__bytes", "sm__ops_path_tensor_src_fp16_dst_fp32",
                         "gpu__time_duration"}
    wanted = ncu.wanted_metrics(available)
    assert "sm__ops_path_tensor_src_fp16_dst_fp32.sum.peak_sustained" in wanted
    assert "dram__bytes.sum.peak_sustained" in wanted
    assert not any("src_fp8" in m or "fadd" in m for m in wanted)
    assert set(ncu.CORE_METRICS) <= set(wanted)
    assert ncu.wanted_metrics(None) == list(ncu.CORE_METRICS)


def test_report_round_trip_and_summary() -> None:
    report = ncu.ProfileReport("ok", device="NVIDIA H100", kernels=ncu.kernel_profiles(
        ncu.parse_csv(RAW)), calls=3, kernel_ms_per_call=0.7082, event_ms_per_call=0.7251)
    again = ncu.ProfileReport.from_dict(report.to_dict())
    assert again == report
    text = report.summary()
    assert "kernel copy_kernel: 3 launch(es) profiled, 178.9 us each" in text
    assert "DRAM 90.8% -> memory-bound" in text
    assert "top stalls (cycles per issued instruction): long_scoreboard 25.3" in text
    assert "cache hit rates: L1 0.0%, L2 0.4%" in text
    assert "roofline (tensor)" in text and "compute-bound side" in text
    assert ncu.ProfileReport("not_available", reason="no GPU").summary() == (
        "profile: not available: no GPU")
