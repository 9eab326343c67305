"""Nsight Compute: the command line for the candidate's kernels, and its CSV turned into findings.

Parsing works on ncu's `--csv` output in either layout: `--page raw` (one row per launch, one
column per metric, a units row under the header) or `--page details` (one row per metric). Values
may carry thousands separators and units with SI prefixes; everything is brought to base units
(nanoseconds, bytes, per second, percent). Per kernel the findings are: duration, SM / memory /
DRAM throughput as % of peak, achieved vs theoretical occupancy and what limits it, registers and
shared memory per block, the top warp stall reasons, L1/L2 hit rates, and the roofline position
(arithmetic intensity against the ridge point of the compute and DRAM ceilings).
"""

from __future__ import annotations

import csv
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

SECTIONS = ("SpeedOfLight", "MemoryWorkloadAnalysis", "Occupancy", "LaunchStats",
            "WarpStateStats")
CORE_METRICS = (
    "gpu__time_duration.sum",
    "sm__throughput.avg.pct_of_peak_sustained_elapsed",
    "gpu__compute_memory_throughput.avg.pct_of_peak_sustained_elapsed",
    "dram__throughput.avg.pct_of_peak_sustained_elapsed",
    "sm__warps_active.avg.pct_of_peak_sustained_active",
    "sm__maximum_warps_per_active_cycle_pct",
    "launch__registers_per_thread",
    "launch__shared_mem_per_block_static",
    "launch__shared_mem_per_block_dynamic",
    "launch__block_size",
    "launch__grid_size",
    "l1tex__t_sector_hit_rate.pct",
    "lts__t_sector_hit_rate.pct",
    "dram__bytes.sum",
)
FLOP_KINDS = {"fp32": ("fadd", "fmul", "ffma"), "fp16": ("hadd", "hmul", "hfma"),
              "fp64": ("dadd", "dmul", "dfma")}
# Ampere names fp16 paths by accumulator type; Hopper (whose wgmma they must count) has one
# `src_fp16` path. A chip listing both is read through the specific ones only (no double count).
TENSOR_PATHS = ("src_fp16_dst_fp16", "src_fp16_dst_fp32", "src_fp16", "src_bf16_dst_fp32",
                "src_tf32_dst_fp32", "src_fp8", "src_fp64", "src_int8")
ROOFLINE_METRICS = (
    *(f"smsp__sass_thread_inst_executed_op_{op}_pred_on.sum"
      for ops in FLOP_KINDS.values() for op in ops),
    *(f"sm__sass_thread_inst_executed_op_{ops[2]}_pred_on.sum.peak_sustained"
      for ops in FLOP_KINDS.values()),
    *(f"sm__ops_path_tensor_{path}.sum" for path in TENSOR_PATHS),
    *(f"sm__ops_path_tensor_{path}.sum.peak_sustained" for path in TENSOR_PATHS),
    "sm__cycles_elapsed.avg.per_second",
    "dram__bytes.sum.peak_sustained",
    "dram__cycles_elapsed.avg.per_second",
)
OCCUPANCY_LIMITS = {"launch__occupancy_limit_registers": "registers",
                    "launch__occupancy_limit_shared_mem": "shared memory",
                    "launch__occupancy_limit_warps": "warps",
                    "launch__occupancy_limit_blocks": "blocks"}
STALL_FAMILIES = (
    re.compile(r"^smsp__average_warps_issue_stalled_(\w+?)_per_issue_active\.ratio$"),
    re.compile(r"^smsp__average_warp_latency_issue_stalled_(\w+?)\.ratio$"),
    re.compile(r"^smsp__pcsamp_warps_issue_stalled_(\w+?)(?:\.sum)?$"),
)
NOT_STALLS = {"selected"}
IDENTITY_COLUMNS = ("ID", "Process ID", "Process Name", "Host Name", "Kernel Name", "Context",
                    "Stream", "Block Size", "Grid Size", "Device", "CC")
PREFIX = {"": 1.0, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15}
TIME_NS = {"nsecond": 1.0, "usecond": 1e3, "msecond": 1e6, "second": 1e9,
           "ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
PER_SECOND = {"nsecond": 1e9, "usecond": 1e6, "msecond": 1e3, "second": 1.0}


class NcuOutputError(ValueError):
    """ncu's output holds no CSV table we can read."""


def to_number(text: str) -> float | None:
    """ncu's value text as a float: thousands separators dropped, `n/a` as None."""
    cleaned = text.strip().replace(",", "")
    try:
        return float(cleaned)
    except ValueError:
        return None


def scale(unit: str) -> float:
    """Factor to base units: ns for time, bytes (SI prefixes), per second for rates, hz."""
    unit = unit.strip()
    if unit in TIME_NS:
        return TIME_NS[unit]
    numerator, _, denominator = unit.partition("/")
    factor = 1.0
    match = re.fullmatch(r"([KMGTP]?)(byte|hz|inst|cycle|sector|request|warp|thread|block)",
                         numerator, flags=re.I)
    if match:
        factor = PREFIX.get(match[1].upper(), 1.0)
    if denominator in PER_SECOND:
        factor *= PER_SECOND[denominator]
    return factor


def read_rows(text: str) -> list[list[str]]:
    """The CSV rows of ncu's output; its ==PROF== lines and the program's output are dropped."""
    lines = [line for line in text.splitlines() if line.startswith('"')]
    rows = list(csv.reader(lines))
    if not rows or "Kernel Name" not in rows[0]:
        raise NcuOutputError("no ncu CSV table (a header with \"Kernel Name\") in the output")
    return rows


@dataclass
class Launch:
    """One profiled kernel launch: its name and metrics in base units."""

    kernel: str
    metrics: dict[str, float] = field(default_factory=dict)
    block: str = ""
    grid: str = ""


def parse_csv(text: str) -> list[Launch]:
    """Launches from `ncu --csv` output, raw or details page."""
    rows = read_rows(text)
    header = rows[0]
    if "Metric Name" in header:
        return parse_long(header, rows[1:])
    return parse_wide(header, rows[1:])


def parse_wide(header: list[str], rows: list[list[str]]) -> list[Launch]:
    id_col = header.index("ID")
    units = [""] * len(header)
    if rows and not rows[0][id_col].strip():
        units, rows = rows[0], rows[1:]
    launches = []
    for row in rows:
        cells = dict(zip(header, row, strict=False))
        launch = Launch(cells["Kernel Name"], block=cells.get("Block Size", ""),
                        grid=cells.get("Grid Size", ""))
        for index, name in enumerate(header):
            if name in IDENTITY_COLUMNS or index >= len(row):
                continue
            value = to_number(row[index])
            if value is not None:
                launch.metrics[name] = value * scale(units[index])
        launches.append(launch)
    return launches


def parse_long(header: list[str], rows: list[list[str]]) -> list[Launch]:
    col = {name: header.index(name) for name in ("ID", "Kernel Name", "Metric Name",
                                                 "Metric Unit", "Metric Value")}
    by_id: dict[str, Launch] = {}
    for row in rows:
        if len(row) < len(header):
            continue
        launch = by_id.setdefault(row[col["ID"]], Launch(
            row[col["Kernel Name"]], block=row[header.index("Block Size")] if "Block Size" in
            header else "", grid=row[header.index("Grid Size")] if "Grid Size" in header else ""))
        value = to_number(row[col["Metric Value"]])
        name = row[col["Metric Name"]]
        if name and value is not None:
            launch.metrics[name] = value * scale(row[col["Metric Unit"]])
    return list(by_id.values())


@dataclass
class Roofline:
    """Where a kernel sits against the compute and DRAM ceilings."""

    kind: str  # which operations dominate: fp32, fp16, fp64 or tensor
    ops: float
    dram_bytes: float
    intensity: float | None  # ops per DRAM byte
    ridge: float | None  # intensity at which the two ceilings meet
    achieved_ops_per_s: float
    peak_ops_per_s: float | None
    peak_bytes_per_s: float | None

    @property
    def bound_side(self) -> str | None:
        if self.intensity is None or self.ridge is None:
            return None
        return "memory" if self.intensity < self.ridge else "compute"

    def text(self) -> str:
        if self.ops == 0:
            return ("roofline: no floating-point or tensor work counted (pure data movement); "
                    f"{self.dram_bytes / 1e6:.3g} MB of DRAM traffic")
        parts = [f"roofline ({self.kind}): intensity "
                 + (f"{self.intensity:.3g} op/B" if self.intensity is not None else "n/a")]
        if self.ridge is not None and self.bound_side:
            parts.append(f"ridge {self.ridge:.3g} op/B -> {self.bound_side}-bound side")
        if self.peak_ops_per_s and self.peak_bytes_per_s and self.intensity is not None:
            roof = min(self.peak_ops_per_s, self.intensity * self.peak_bytes_per_s)
            parts.append(f"achieved {self.achieved_ops_per_s / 1e12:.3g} Top/s = "
                         f"{self.achieved_ops_per_s / roof:.0%} of the roof there")
        return "; ".join(parts)


@dataclass
class KernelProfile:
    """Findings for one kernel, over its profiled launches (time-weighted means)."""

    name: str
    launches: int
    duration_ns: float  # mean per launch
    total_ns: float
    block: str = ""
    grid: str = ""
    sm_pct: float | None = None
    memory_pct: float | None = None
    dram_pct: float | None = None
    achieved_occupancy_pct: float | None = None
    theoretical_occupancy_pct: float | None = None
    occupancy_limiters: list[str] = field(default_factory=list)
    registers: int | None = None
    shared_bytes_per_block: int | None = None
    stalls: list[tuple[str, float]] = field(default_factory=list)  # top reasons, cycles/issue
    l1_hit_pct: float | None = None
    l2_hit_pct: float | None = None
    roofline: Roofline | None = None

    def bottleneck(self) -> str:
        sm, mem = self.sm_pct or 0.0, max(self.memory_pct or 0.0, self.dram_pct or 0.0)
        if max(sm, mem) < 60:
            return "latency-bound (neither compute nor memory above 60% of peak)"
        return "memory-bound" if mem >= sm else "compute-bound"

    def lines(self) -> list[str]:
        out = [f"kernel {self.name}: {self.launches} launch(es) profiled, "
               f"{self.duration_ns / 1e3:.4g} us each, block {self.block}, grid {self.grid}"]
        out.append(f"  throughput (% of peak): SM {pct(self.sm_pct)}, memory {pct(self.memory_pct)}"
                   f", DRAM {pct(self.dram_pct)} -> {self.bottleneck()}")
        limits = f" (limited by {', '.join(self.occupancy_limiters)})" if (
            self.occupancy_limiters) else ""
        out.append(f"  occupancy: achieved {pct(self.achieved_occupancy_pct)} of theoretical "
                   f"{pct(self.theoretical_occupancy_pct)}{limits}; {self.registers} "
                   f"registers/thread, {self.shared_bytes_per_block} B shared/block")
        if self.stalls:
            out.append("  top stalls (cycles per issued instruction): " + ", ".join(
                f"{reason} {value:.3g}" for reason, value in self.stalls))
        out.append(f"  cache hit rates: L1 {pct(self.l1_hit_pct)}, L2 {pct(self.l2_hit_pct)}")
        if self.roofline:
            out.append("  " + self.roofline.text())
        return out


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}%"


def weighted(launches: list[Launch], name: str) -> float | None:
    """Duration-weighted mean of a metric over launches that have it."""
    pairs = [(launch.metrics[name], launch.metrics.get("gpu__time_duration.sum", 1.0))
             for launch in launches if name in launch.metrics]
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if pairs and total else None


def summed(launches: list[Launch], name: str) -> float | None:
    values = [launch.metrics[name] for launch in launches if name in launch.metrics]
    return sum(values) if values else None


def first(launches: list[Launch], *names: str) -> float | None:
    for name in names:
        for launch in launches:
            if name in launch.metrics:
                return launch.metrics[name]
    return None


def stall_reasons(launches: list[Launch], top: int = 3) -> list[tuple[str, float]]:
    """The largest stall reasons, from the first metric family ncu reported."""
    names = {name for launch in launches for name in launch.metrics}
    for family in STALL_FAMILIES:
        found = {}
        for name in names:
            match = family.match(name)
            if match and match[1] not in NOT_STALLS and not match[1].endswith("not_issued"):
                value = weighted(launches, name)
                if value is not None:
                    found[match[1]] = value
        if found:
            return sorted(found.items(), key=lambda kv: -kv[1])[:top]
    return []


def roofline(launches: list[Launch], duration_s: float) -> Roofline | None:
    dram_bytes = summed(launches, "dram__bytes.sum")
    if dram_bytes is None:
        return None
    ops: dict[str, float] = {}
    peaks: dict[str, float | None] = {}
    sm_hz = first(launches, "sm__cycles_elapsed.avg.per_second")
    for kind, (add, mul, fma) in FLOP_KINDS.items():
        counts = [summed(launches, f"smsp__sass_thread_inst_executed_op_{op}_pred_on.sum")
                  for op in (add, mul, fma)]
        ops[kind] = (counts[0] or 0) + (counts[1] or 0) + 2 * (counts[2] or 0)
        peak = first(launches, f"sm__sass_thread_inst_executed_op_{fma}_pred_on.sum.peak_sustained")
        peaks[kind] = 2 * peak * sm_hz if peak is not None and sm_hz else None
    tensor_paths = {path: summed(launches, f"sm__ops_path_tensor_{path}.sum")
                    for path in TENSOR_PATHS}
    if any(tensor_paths[p] is not None for p in ("src_fp16_dst_fp16", "src_fp16_dst_fp32")):
        tensor_paths["src_fp16"] = None
    tensor_paths = {p: value or 0.0 for p, value in tensor_paths.items()}
    ops["tensor"] = sum(tensor_paths.values())
    busiest = max(tensor_paths, key=lambda p: tensor_paths[p])
    peak = first(launches, f"sm__ops_path_tensor_{busiest}.sum.peak_sustained")
    peaks["tensor"] = peak * sm_hz if peak is not None and sm_hz else None
    kind = max(ops, key=lambda k: ops[k])
    bw_peak_unit = first(launches, "dram__bytes.sum.peak_sustained")
    dram_hz = first(launches, "dram__cycles_elapsed.avg.per_second")
    bw_peak = bw_peak_unit * dram_hz if bw_peak_unit is not None and dram_hz else None
    intensity = ops[kind] / dram_bytes if dram_bytes else None
    ridge = peaks[kind] / bw_peak if peaks[kind] and bw_peak else None
    return Roofline(kind, ops[kind], dram_bytes, intensity, ridge,
                    ops[kind] / duration_s if duration_s else 0.0, peaks[kind], bw_peak)


def kernel_profiles(launches: list[Launch]) -> list[KernelProfile]:
    """One profile per kernel name, in order of first launch."""
    names = list(dict.fromkeys(launch.kernel for launch in launches))
    profiles = []
    for name in names:
        mine = [launch for launch in launches if launch.kernel == name]
        total = summed(mine, "gpu__time_duration.sum") or 0.0
        limits = {label: weighted(mine, metric) for metric, label in OCCUPANCY_LIMITS.items()}
        known = {k: v for k, v in limits.items() if v is not None}
        lowest = min(known.values()) if known else None
        static = first(mine, "launch__shared_mem_per_block_static")
        dynamic = first(mine, "launch__shared_mem_per_block_dynamic")
        registers = first(mine, "launch__registers_per_thread")
        profiles.append(KernelProfile(
            name=name, launches=len(mine), duration_ns=total / len(mine), total_ns=total,
            block=mine[0].block, grid=mine[0].grid,
            sm_pct=weighted(mine, "sm__throughput.avg.pct_of_peak_sustained_elapsed"),
            memory_pct=weighted(
                mine, "gpu__compute_memory_throughput.avg.pct_of_peak_sustained_elapsed"),
            dram_pct=weighted(mine, "dram__throughput.avg.pct_of_peak_sustained_elapsed")
            if any("dram__throughput.avg.pct_of_peak_sustained_elapsed" in launch.metrics
                   for launch in mine)
            else weighted(mine, "gpu__dram_throughput.avg.pct_of_peak_sustained_elapsed"),
            achieved_occupancy_pct=weighted(mine,
                                            "sm__warps_active.avg.pct_of_peak_sustained_active"),
            theoretical_occupancy_pct=weighted(mine, "sm__maximum_warps_per_active_cycle_pct"),
            occupancy_limiters=[k for k, v in known.items() if v == lowest],
            registers=int(registers) if registers is not None else None,
            shared_bytes_per_block=int((static or 0) + (dynamic or 0))
            if static is not None or dynamic is not None else None,
            stalls=stall_reasons(mine),
            l1_hit_pct=weighted(mine, "l1tex__t_sector_hit_rate.pct"),
            l2_hit_pct=weighted(mine, "lts__t_sector_hit_rate.pct"),
            roofline=roofline(mine, total / 1e9)))
    return profiles


def wanted_metrics(available: set[str] | None) -> list[str]:
    """The core metrics, plus the roofline counters this GPU lists (by base name).

    The core ones are those the requested sections use on every recent GPU. A metric ncu does
    not know fails the whole run, so the roofline counters, which differ between chips, are
    asked for only when `ncu --query-metrics` listed them.
    """
    extra = [m for m in ROOFLINE_METRICS if available and m.split(".")[0] in available]
    return list(dict.fromkeys([*CORE_METRICS, *extra]))


def parse_metric_list(text: str) -> set[str]:
    """Base metric names from `ncu --query-metrics` output."""
    return {m[1] for line in text.splitlines()
            if (m := re.match(r"^\s*([a-z0-9]+__[a-z0-9_]+)\s", line))}


def command(ncu: str, kernel_regex: str, skip: int, count: int, metrics: list[str],
            log_file: str, program: list[str]) -> list[str]:
    """The ncu invocation: the candidate's kernels only, warm-up skipped, clocks left alone."""
    args = [ncu, "--target-processes", "all", "--kernel-name-base", "function",
            "--kernel-name", f"regex:{kernel_regex}", "--launch-skip", str(skip),
            "--launch-count", str(count), "--clock-control", "none"]
    for section in SECTIONS:
        args += ["--section", section]
    args += ["--metrics", ",".join(metrics), "--csv", "--page", "raw", "--print-units", "base",
             "--log-file", log_file]
    return args + program


def kernel_regex(names: list[str]) -> str:
    """Matches the candidate's kernel names inside ncu's function names, which may carry a
    namespace or template arguments around them."""
    return r"(^|[^A-Za-z0-9_])(" + "|".join(re.escape(n) for n in sorted(names)) + \
        r")([^A-Za-z0-9_]|$)"


ProfileStatus = Literal["ok", "not_available", "error", "bad_input"]


@dataclass
class ProfileReport:
    """The profile tool's answer."""

    status: ProfileStatus
    reason: str = ""
    device: str = ""
    kernels: list[KernelProfile] = field(default_factory=list)
    calls: int = 0
    kernel_ms_per_call: float | None = None  # ncu's durations of the candidate's kernels
    event_ms_per_call: float | None = None  # CUDA-event median of one forward call
    command: list[str] = field(default_factory=list)
    csv: str = ""  # ncu's CSV (in the sandbox); a path once the host kept it
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProfileReport:
        data = dict(data)
        kernels = []
        for k in data.get("kernels", []):
            k = dict(k)
            k["stalls"] = [tuple(s) for s in k.get("stalls", [])]
            k["roofline"] = Roofline(**k["roofline"]) if k.get("roofline") else None
            kernels.append(KernelProfile(**k))
        data["kernels"] = kernels
        return cls(**data)

    def summary(self) -> str:
        if self.status == "not_available":
            return f"profile: not available: {self.reason}"
        if self.status != "ok":
            return f"profile: {self.status.upper()}: {self.reason}"
        lines = [f"profile (Nsight Compute on {self.device}, {self.calls} calls after warm-up):"]
        if self.kernel_ms_per_call is not None and self.event_ms_per_call is not None:
            lines.append(f"per forward call: candidate kernels {self.kernel_ms_per_call:.4g} ms "
                         f"(ncu), whole call {self.event_ms_per_call:.4g} ms (CUDA events)")
        for kernel in self.kernels:
            lines.extend(kernel.lines())
        lines.extend(f"note: {n}" for n in self.notes)
        if self.csv and not self.csv.startswith('"'):
            lines.append(f"ncu CSV: {self.csv}")
        return "\n".join(lines)
