"""The profile task: Nsight Compute on the candidate's own kernels, parsed into findings.

Run by name (`kernel_agent.tools.profiler:run`) inside the sandbox, on a GPU host. The task loads
problem and candidate, counts how many of the candidate's kernel launches the warm-up calls make
(torch's profiler) so that ncu can skip exactly those, times one forward call with CUDA events
for reference, then runs ncu on a small driver program (`kernel_agent.tools.profile_driver`)
with a kernel-name filter built from the candidate's kernel names and `--clock-control none`.
Without a GPU or without ncu the answer is a plain "not available" with the reason.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from kernel_agent.tools import ncu
from kernel_agent.tools.ncu import ProfileReport

PROFILE_DEFAULTS: dict[str, Any] = {
    "ncu": None,  # path to ncu; None: PATH, then the usual CUDA install places
    "warmup_calls": 2,
    "calls": 3,
    "ncu_timeout_s": 540,
}
NCU_PLACES = ("/usr/local/cuda/bin/ncu", "/usr/local/cuda-*/bin/ncu",
              "/opt/nvidia/nsight-compute/*/ncu")
PERMISSION_ERROR = "ERR_NVGPUCTRPERM"


def run(payload: dict[str, Any]) -> dict[str, Any]:
    """Sandbox task entry point: problem, candidate and options in, a ProfileReport dict out."""
    import torch

    from kernel_agent.tools.verify import PAYLOAD_DEFAULTS

    options = {**PAYLOAD_DEFAULTS, **PROFILE_DEFAULTS, **payload}
    if not torch.cuda.is_available():
        return ProfileReport("not_available", reason="no GPU on this machine; Nsight Compute "
                             "measures kernels running on a GPU").to_dict()
    tool = find_ncu(options["ncu"])
    if tool is None:
        return ProfileReport("not_available", reason="Nsight Compute (ncu) not found on PATH "
                             "or under /usr/local/cuda or /opt/nvidia/nsight-compute").to_dict()
    with tempfile.TemporaryDirectory(prefix="profile-") as tmp:
        return Profiling(options, Path(tmp), tool).report().to_dict()


def find_ncu(explicit: str | None) -> str | None:
    if explicit:
        return explicit if Path(explicit).exists() else None
    found = shutil.which("ncu")
    if found:
        return found
    for pattern in NCU_PLACES:
        matches = sorted(glob.glob(pattern))
        if matches:
            return matches[-1]
    return None


def count_launches(fn: Any, calls: int, names: set[str]) -> int:
    """Launches of the candidate's own kernels during `calls` calls of `fn`, by torch's profiler."""
    from kernel_agent.tools.integrity import cuda_kernel_events, is_custom

    return sum(1 for name, _ in cuda_kernel_events(fn, calls) if is_custom(name, names))


def available_metrics(tool: str) -> set[str] | None:
    try:
        done = subprocess.run([tool, "--query-metrics"], capture_output=True, text=True,
                              timeout=120, env={**os.environ, "LC_ALL": "C"})
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = ncu.parse_metric_list(done.stdout)
    return found or None


class Profiling:
    """One candidate's profile: warm-up count, event timing, the ncu run and its parse."""

    def __init__(self, options: dict[str, Any], workdir: Path, tool: str) -> None:
        self.options, self.workdir, self.tool = options, workdir, tool

    def report(self) -> ProfileReport:
        import torch

        measured = self.measure_in_process()
        if isinstance(measured, ProfileReport):
            return measured
        names, skip, per_call, event_ms = measured
        torch.cuda.empty_cache()  # the profiled driver gets the GPU's memory to itself
        calls = self.options["calls"]
        report = self.run_ncu(names, skip, per_call * calls)
        report.device = torch.cuda.get_device_name()
        report.calls = calls
        report.event_ms_per_call = event_ms
        if report.kernels:
            report.kernel_ms_per_call = sum(k.total_ns for k in report.kernels) / calls / 1e6
        return report

    def measure_in_process(self) -> ProfileReport | tuple[set[str], int, int, float]:
        """The candidate's kernel names, the launches warm-up makes and one call makes, and the
        CUDA-event median of one call; or why profiling cannot go on."""
        import torch

        from kernel_agent.tools.integrity import custom_kernel_names
        from kernel_agent.tools.problem import SpecError
        from kernel_agent.tools.timing import L2Flusher, time_gpu
        from kernel_agent.tools.verify import CandidateError, Verification

        verification = Verification(self.options, self.workdir / "candidate")
        text = self.options["candidate"]["text"]
        try:
            verification.load_problem()
            verification.take_snapshots()
            verification.load_candidate()
            names = custom_kernel_names(verification.candidate_module, text)
            if not names:
                return ProfileReport("error", reason="the candidate defines no Triton or CUDA "
                                     "kernel of its own to profile")
            verification.build_models()
            inputs = verification.make_inputs(self.options["seed"])

            def call() -> Any:
                return verification.call_candidate(inputs)

            # Counted from the first call on, as in the driver: JIT and autotuning included.
            skip = count_launches(call, self.options["warmup_calls"], names)
            per_call = count_launches(call, 1, names)
        except SpecError as exc:
            return ProfileReport("bad_input", reason=str(exc))
        except CandidateError as exc:
            where = f" at {exc.file}:{exc.line}" if exc.line else ""
            return ProfileReport("error", reason=f"the candidate failed before profiling "
                                 f"[{exc.kind}]{where}: {exc.message_text()}")
        if per_call == 0:
            return ProfileReport("error", reason="none of the candidate's kernels "
                                 f"({', '.join(sorted(names))}) ran on the GPU")

        def forward() -> Any:
            with torch.no_grad():
                return verification.new(*inputs)

        event_ms = time_gpu(forward, L2Flusher(verification.device)).median_ms
        return names, skip, per_call, event_ms

    def run_ncu(self, names: set[str], skip: int, count: int) -> ProfileReport:
        request = self.workdir / "driver.json"
        request.write_text(json.dumps({"options": self.options, "calls": self.options["calls"],
                                       "warmup_calls": self.options["warmup_calls"]}))
        log = self.workdir / "ncu.log"
        program = [sys.executable, "-m", "kernel_agent.tools.profile_driver", str(request)]
        cmd = ncu.command(self.tool, ncu.kernel_regex(sorted(names)), skip, count,
                          ncu.wanted_metrics(available_metrics(self.tool)), str(log), program)
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, cwd=self.workdir,
                                  timeout=self.options["ncu_timeout_s"],
                                  env={**os.environ, "LC_ALL": "C"})
        except subprocess.TimeoutExpired:
            return ProfileReport("error", reason=f"ncu ran over {self.options['ncu_timeout_s']} s",
                                 command=cmd)
        text = log.read_text(errors="replace") if log.exists() else ""
        output = text + done.stdout + done.stderr
        if PERMISSION_ERROR in output:
            return ProfileReport("not_available", command=cmd, reason=(
                "no permission to read the GPU's performance counters (ERR_NVGPUCTRPERM): run "
                "as root or set the driver option NVreg_RestrictProfilingToAdminUsers=0"))
        try:
            launches = ncu.parse_csv(text)
        except ncu.NcuOutputError:
            tail = "\n".join(output.strip().splitlines()[-15:])
            return ProfileReport("error", command=cmd, reason=f"ncu exited with code "
                                 f"{done.returncode} and no CSV; its last lines:\n{tail}")
        csv_text = "\n".join(line for line in text.splitlines() if line.startswith('"'))
        if not launches:
            return ProfileReport("error", command=cmd, csv=csv_text, reason="ncu profiled no "
                                 "launch of the candidate's kernels")
        return ProfileReport("ok", kernels=ncu.kernel_profiles(launches), command=cmd,
                             csv=csv_text)
