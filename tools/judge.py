"""The judge: the one process of a verification that writes the verdict, and one that never runs
the candidate's code. Run by name (`kernel_agent.tools.judge:run`) as the sandbox task.

A candidate that runs in the verifier's own process holds everything the verifier holds, the
answer's channel included: one that writes a passing verdict there and exits, or rewrites the
comparison, passes without computing anything, and checks made inside that process only raise
the bar. So verification takes two processes. This one holds the answer and the problem's
reference; a fresh process per candidate, forked by a zygote (sandbox/zygote.py) because this
one keeps its CUDA context between tasks, runs the whole verification (tools/verify.py) and
sends its verdict back as a claim. The judge believes the claim only as far as it checks it:

- a claimed pass is audited: one more input set, made here from a seed drawn here, is sent to the
  candidate's process (its seed, where the problem makes the same inputs from it again; else
  the inputs), which never had it or the reference's outputs for it; what comes back is
  compared here with the reference's outputs and the judge's own tolerance (`audit_failed`);
- a claimed time is raced (tools/race.py), once the baseline's early compile (which runs
  Inductor's own kernels) is done: the candidate's process gets fresh seeds only now,
  makes those inputs and calls the candidate once on each, sending back projections of the
  outputs, checked here; the judge's wall clock over those calls, less its own cost of the same
  input making and projecting, may not exceed three times the claimed time plus 1.5 ms a call
  and 10 ms (`timing_disputed`): a bound on kernels well above a launch's cost;
- the baselines (eager and torch.compile) are measured here, after the candidate's process and
  everything it started are gone, with compile caches of the judge's own; so are the speedups;
- the static review of the candidate's source is made here too, in place of the claim's;
- a candidate process that dies, hangs or sends what is not a verdict never makes a pass.

All of the judge's own work on the problem happens while no process of this task's candidate
exists, or while it waits for one, so nothing the candidate writes is ever loaded here. Once the
race is over, the candidate's process is killed and the zygote waits out its teardown while the
judge writes the verdict; the baselines and the next task wait until it is gone. The
judge's memory, descriptors and process are out of the candidate's reach: it is not dumpable,
and the candidate's process gets nothing of it but one socket.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import select
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from time import perf_counter
from typing import Any

import torch

from kernel_agent.sandbox import channel, linux
from kernel_agent.sandbox.environment import variables_set
from kernel_agent.sandbox.outcome import signal_name
from kernel_agent.sandbox.resident import MARK as RESIDENT_MARK
from kernel_agent.sandbox.resident import PROCESS as RESIDENT_PROCESS
from kernel_agent.sandbox.resident import empty
from kernel_agent.sandbox.worker import TaskFailure
from kernel_agent.sandbox.zygote import Child, Zygote, ZygoteLost
from kernel_agent.tools import (
    candidate_link,
    device_share,
    integrity,
    numeric_settings,
    race,
    static_review,
    tensor_transfer,
    tolerance,
    trivial,
)
from kernel_agent.tools.baseline_compile import EarlyCompile
from kernel_agent.tools.compare import OutputMismatch, check_structure, compare
from kernel_agent.tools.compiled_store import source_key
from kernel_agent.tools.phases import PhaseClock, summed
from kernel_agent.tools.problem import SpecError
from kernel_agent.tools.timed_check import InputSet
from kernel_agent.tools.timing import L2Flusher
from kernel_agent.tools.tolerance import Atol
from kernel_agent.tools.verdict import (
    ErrorInfo,
    Flag,
    Stats,
    Verdict,
    add_flag,
    baseline_key,
    typed,
)
from kernel_agent.tools.verifier_kernels import KERNELS, PAYLOAD_KEY
from kernel_agent.tools.verify import (
    COMPILE_CACHE_BASE,
    PAYLOAD_DEFAULTS,
    Verification,
    changed_since,
    gpu_available,
)

ZYGOTE = Zygote()
# A candidate process forked ahead, between a resident judge's tasks (settle()): its start and its
# CUDA context are made while no verdict waits for them. It runs no candidate's code before its
# task's "verify" (with the task's log as its output), and each is used for one candidate only.
SPARE: list[Child] = []
CANDIDATE_PROCESS = "kernel_agent.tools.candidate_process:serve"
AUDIT_FLAG = "audit_failed"
# A claim is a verdict plus, at most, the compiled kernels the candidate's process kept.
CLAIM_LIMIT = 256 << 20
# Reference outputs of the audit larger than this wait in host memory while the candidate's
# process runs: a problem sized to the device leaves no room for a second copy there.
DEVICE_KEPT_BYTES = 1 << 30
LANDING_HEADROOM = 2 << 30  # device memory left free beside received audit outputs
# What the candidate process may say its verification ended in, when it could send no verdict
# (a CUDA error surfacing after the checks, say); anything else is a sandbox_error.
ERROR_KINDS = ("cuda_error", "out_of_memory", "sandbox_error")
# How long a candidate process that closed its channel may take to end by itself (a crash's
# core-less exit, CUDA's teardown) before it counts as having closed it deliberately.
DYING_GRACE_S = 2.0
# The compile folder of the candidate verified last (tools/verify.py, use_compile_caches).
CURRENT_SOURCE: dict[str, str] = {}


def run(payload: dict[str, Any]) -> dict[str, Any]:
    """Sandbox task entry point: the payload in, the judge's Verdict as a dict out."""
    started = perf_counter()
    clock = PhaseClock()
    with clock.phase("other"), forking_candidates():
        options = {**PAYLOAD_DEFAULTS, **payload}
        CURRENT_SOURCE["key"] = source_key(options["candidate"]["text"])
        if gpu_available():
            clock.sync = synchronize_once_started
        with tempfile.TemporaryDirectory(prefix="judge-") as tmp:
            judgement = Judgement(options, Path(tmp), clock)
            verdict, extra = judgement.verdict()
    verdict.phases = merged(verdict.phases, clock.rounded())
    verdict.elapsed_s = round(perf_counter() - started, 3)
    if os.environ.get(RESIDENT_MARK):
        verdict.process = {**asdict(RESIDENT_PROCESS),
                           "candidate_process": judgement.candidate_origin}
    return {**Verdict.to_dict(verdict), **extra}


def synchronize_once_started() -> None:
    """Wait for the device's work, once this process has started CUDA: a phase that ended before
    gave it none, and synchronising would start CUDA (0.35 s on an H100) before the candidate's
    process is forked, where it is otherwise started beside that process's own start."""
    if torch.cuda.is_initialized():
        torch.cuda.synchronize()


@contextlib.contextmanager
def forking_candidates() -> Iterator[None]:
    """What every task that runs candidate code only in processes of its own (the judge, the
    re-timing) sets up first: this process made undumpable (no same-user process may read or
    trace it) and the zygote started before this process first touches CUDA; the zygote ended
    on the way out, unless this process is kept for the next task."""
    linux.prctl(linux.PR_SET_DUMPABLE, 0)
    if not ZYGOTE.alive() and torch.cuda.is_initialized():
        raise TaskFailure("sandbox_error", "this process used CUDA before its zygote started: "
                          "no candidate process forked now could use the GPU")
    ZYGOTE.start()
    try:
        yield
    finally:
        if not os.environ.get(RESIDENT_MARK):
            ZYGOTE.stop()


def settle() -> str:
    """For the resident judge (sandbox/resident.py), once it has answered: why it may not take
    the next task; if it may, the next task's candidate process is forked now."""
    with contextlib.suppress(ZygoteLost, OSError):
        ZYGOTE.ended()  # the last candidate's processes gone before its folders are pruned
    if not ZYGOTE.alive():
        return "the zygote that forks candidate processes has ended"
    if not prune_compile_caches():
        return "the compile caches could not be pruned"
    if not SPARE:
        with contextlib.suppress(ZygoteLost, OSError):  # then the next verdict forks its own
            SPARE.append(ZYGOTE.spawn(CANDIDATE_PROCESS, stdout=1))
    return ""


def candidate_process() -> tuple[Child, str]:
    """A process for the candidate, and where it came from: the spare forked after the last
    task if it still waits ("spare"), else one forked now ("forked")."""
    while SPARE:
        child = SPARE.pop()
        if waiting(child):
            return child, "spare"
        child.link.close()  # ended meanwhile; the zygote reaps it with the next child
    try:
        return ZYGOTE.spawn(CANDIDATE_PROCESS, stdout=1), "forked"
    except ZygoteLost as exc:
        raise TaskFailure("sandbox_error",
                          f"no candidate process could be started: {exc}") from None


def waiting(child: Child) -> bool:
    """Whether a spare candidate process still waits for its task: it sends nothing before it
    has one, so a socket with something to read is one whose process has ended."""
    try:
        readable, _, _ = select.select([child.link], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def kept_children() -> set[int]:
    """The judge's own child that outlives a task: its zygote."""
    return {ZYGOTE.pid} if ZYGOTE.alive() and ZYGOTE.pid is not None else set()


def prune_compile_caches() -> bool:
    """Keep only the compile folder of the candidate just verified. Every candidate can write
    into every folder it finds, so an earlier candidate's folder, verified again later, could
    load what this one put there; its own folder only ever serves its own source."""
    if COMPILE_CACHE_BASE is None or not os.path.isdir(COMPILE_CACHE_BASE):
        return True
    current = os.path.join(COMPILE_CACHE_BASE, CURRENT_SOURCE.get("key", ""))
    return empty(COMPILE_CACHE_BASE, keep=(current,))


@dataclass
class AuditSet:
    """Inputs the candidate's process has never seen, and the reference's outputs for them."""

    seed: int
    inputs: list[Any] | None  # in host memory; None: only their seed is sent
    reference: list[torch.Tensor] | None  # None: too large to keep, made again when needed
    expected_bytes: int  # what the reference's outputs take, as sent
    atol: Atol
    rtol: float
    outputs: int = 1  # how many the reference has

    @property
    def reply_limit(self) -> int:
        """The most the candidate's description of its outputs may take."""
        return candidate_link.outputs_reply_limit(self.outputs)


class Judgement:
    """One candidate's verdict, as the judge reaches it."""

    def __init__(self, options: dict[str, Any], workdir: Path, clock: PhaseClock) -> None:
        self.options, self.clock = options, clock
        self.referee = Verification(options, workdir, clock)  # the reference's side only
        self.candidate_origin = "none"  # "spare" or "forked", once a process is taken

    def verdict(self) -> tuple[Verdict, dict[str, Any]]:
        referee = self.referee
        try:
            with self.clock.phase("judge"):
                referee.load_problem()  # imported here before any candidate process exists
        except SpecError as exc:
            return referee.bad_problem(exc), {}
        # One numeric setting and one compile cache from the baseline's compile, which may
        # start on a thread now, to its timing at the end.
        with numeric_settings.applied(referee.settings), private_compile_caches():
            early: list[EarlyCompile] = []
            try:
                child, self.candidate_origin = candidate_process()
                return self.judged(child, early)
            finally:
                for compiling in early:
                    compiling.thread.join()
                KERNELS.join()

    def judged(self, child: Child, early: list[EarlyCompile]) -> tuple[Verdict, dict[str, Any]]:
        """The verdict, once the problem is loaded and the candidate's process started; the
        baselines' early compile, if one starts, goes into `early`."""
        referee = self.referee
        audit_set: AuditSet | None = None
        try:
            with self.clock.phase("judge"):
                audit_set = self.audit_set()
                early.extend(self.early_compile())
            with self.clock.phase("candidate_start"):
                claim = self.claim(child)
            if claim is None:
                status = ZYGOTE.end(child, grace_s=DYING_GRACE_S)
                raise died(status)
            verdict, extra = claim
            review_claim(verdict, self.options["candidate"]["text"])
            # The wait, less the candidate process's own phases: its start and hand-over.
            waited = self.clock.seconds.get("candidate_start", 0.0)
            self.clock.seconds["candidate_start"] = max(0.0, waited - sum_of(verdict.phases))
            if verdict.status == "pass":
                with self.clock.phase("audit"):
                    self.audit(child, verdict, audit_set)
            if (verdict.status == "pass" and verdict.timing is not None
                    and child.link.fileno() >= 0):  # else the audit ended it, and said why
                with self.clock.phase("baselines"):  # the race times a GPU of its own
                    for compiling in early:
                        compiling.thread.join()
                with self.clock.phase("race"):
                    try:
                        self.race(child, verdict, audit_set)
                    except torch.OutOfMemoryError:
                        verdict.not_measured["judge_timing"] = (
                            "the judge ran out of device memory making its timed calls' inputs "
                            "beside the candidate's process")
        except SpecError as exc:  # the problem failed here at run time (get_inputs raised)
            return referee.bad_problem(exc), {}
        finally:
            with contextlib.suppress(ZygoteLost, OSError):
                if child.link.fileno() >= 0:
                    ZYGOTE.end_soon(child)  # its teardown goes on while the verdict is written
        verdict.device = referee.device_info()
        if referee.device.type != "cuda":
            verdict.timing = None  # no timing without a GPU, whatever was claimed
        timed = verdict.passed and verdict.timing is not None
        entry = self.kept_baselines()
        if entry is None and (timed or early):  # an early compile is worth its timing anyway
            try:
                with contextlib.suppress(ZygoteLost, OSError):
                    ZYGOTE.ended()  # the baselines time a GPU the candidate has left
                entry = self.measure_baselines(early[0] if early else None)
                extra["baselines_measured"] = {baseline_key(verdict.device): entry}
            except Exception as exc:  # the reference's failure is no verdict on the candidate
                verdict.not_measured["baselines"] = (
                    f"the reference could not be timed: {type(exc).__name__}: {exc}"[:500])
        if timed and entry is not None:
            add_baselines(verdict, entry, cached="baselines_measured" not in extra)
        return verdict, extra

    def audit_set(self) -> AuditSet:
        """A fresh input set from a seed only this process knows, and the reference's outputs."""
        referee = self.referee
        referee.build_reference()
        seed = secrets.randbelow(2**31)
        inputs = referee.make_inputs(seed)
        reference = referee.reference_after(inputs)
        atol, rtol, _ = trivial.judged_tolerance(reference, referee.dtype,
                                                 referee.declared("atol"), referee.declared("rtol"))
        if referee.device.type == "cuda" and os.environ.get(RESIDENT_MARK):
            KERNELS.warm(t.dtype for t in integrity.tensors(reference))  # for later verdicts
        sent = None  # the seed is sent: the candidate's process makes them
        if changed_since(referee.make_inputs(seed), integrity.Fingerprint.of(
                integrity.tensors(inputs))):  # not made again alike from the seed: sent as made
            host = [v.cpu() if isinstance(v, torch.Tensor) else v for v in inputs]
            with contextlib.suppress(tensor_transfer.TransferError):  # else the seed, as ever
                tensor_transfer.describe(host)
                sent = host
        del inputs
        expected = sum(tensor_transfer.aligned(t.numel() * t.element_size()) for t in reference)
        outputs = len(reference)
        kept: list[torch.Tensor] | None = reference
        if referee.device.type == "cuda":
            if too_large_to_keep(reference):
                kept = None  # the candidate needs the memory more; made again after it answers
            del reference
            torch.cuda.empty_cache()  # what the judge holds no longer, the candidate can use
        return AuditSet(seed, sent, kept, expected, atol, rtol, outputs)

    def audit_reference(self, audit_set: AuditSet) -> list[torch.Tensor]:
        """The reference's outputs for the audit's inputs: kept, or made again on the device
        now, from the seed or the inputs that were sent (a copy in host memory and a transfer
        back would take seconds on a problem of gigabytes)."""
        if audit_set.reference is not None:
            return audit_set.reference
        referee = self.referee
        if audit_set.inputs is None:
            inputs = referee.make_inputs(audit_set.seed)
        else:
            inputs = [v.to(referee.device) if isinstance(v, torch.Tensor) else v
                      for v in audit_set.inputs]
        return referee.reference_after(inputs, copy=False)

    def claim(self, child: Child) -> tuple[Verdict, dict[str, Any]] | None:
        """The candidate process's verdict (None if the process ended without one)."""
        try:
            payload = {**self.options, PAYLOAD_KEY: KERNELS.for_candidates()}
            message = candidate_link.ask(child.link, {"op": "verify", "payload": payload},
                                         CLAIM_LIMIT, fds=[1])  # this task's log
        except candidate_link.NoReply as exc:
            return None if exc.ended else (unreadable(f"its verdict: {exc}"), {})
        if error := candidate_link.error_in(message):
            kind = error[0] if error[0] in ERROR_KINDS else "sandbox_error"
            return failing("sandbox", ErrorInfo(
                kind, f"the verifier failed in the candidate's process: {error[1]}")), {}
        return read_claim(message.get("claim"))

    def audit(self, child: Child, verdict: Verdict, audit_set: AuditSet) -> None:
        """Call the candidate on the audit set through its process; fail a wrong answer."""
        try:
            with self.audit_outputs(child, audit_set) as (outputs, mapped):
                self.judge_audit(child, verdict, audit_set, outputs, mapped)
        except AuditBroke as exc:
            reject(verdict, str(exc))

    @contextlib.contextmanager
    def audit_outputs(self, child: Child, audit_set: AuditSet
                      ) -> Iterator[tuple[list[Any], bool]]:
        """The candidate's outputs on the audit's inputs, and whether they are mapped from its
        process's memory (tools/device_share.py; valid only inside this context) rather than
        received through the socket; AuditBroke if there are none."""
        request: dict[str, Any] = {"op": "audit", "share": self.referee.device.type == "cuda"}
        if audit_set.inputs is not None:
            described, size = tensor_transfer.describe(audit_set.inputs)
            request.update(inputs=described, bytes=size)
        else:
            request["seed"] = audit_set.seed
        expected = audit_set.expected_bytes
        with audit_exchange():
            channel.send(child.link, request)
            if audit_set.inputs is not None:
                tensor_transfer.send(child.link, audit_set.inputs)
            message = candidate_link.ask(child.link, None, audit_set.reply_limit)
        if "shared" in message:
            with contextlib.ExitStack() as mapping:
                try:
                    outputs = mapping.enter_context(device_share.opened(
                        message["shared"], self.referee.device, expected))
                except (device_share.ShareError, RuntimeError, ValueError):
                    with audit_exchange():  # sent as bytes after all
                        message = candidate_link.ask(child.link, {"op": "audit_bytes"},
                                                     audit_set.reply_limit)
                else:
                    yield outputs, True
                    mapping.close()  # unmapped before the candidate's process may free it
                    if child.link.fileno() >= 0:  # else the audit ended the process
                        with audit_exchange():
                            candidate_link.ask(child.link, {"op": "audit_done"},
                                               audit_set.reply_limit)
                    return
        if error := candidate_link.error_in(message):
            raise AuditBroke(f"the candidate failed on the audit's inputs: {error[1][-500:]}")
        if "outputs" not in message:
            raise AuditBroke("the candidate failed on the audit's inputs: no outputs")
        with audit_exchange():
            outputs = tensor_transfer.receive(child.link, message["outputs"],
                                              message.get("bytes"), expected,
                                              self.landing_device(expected))
        yield outputs, False

    def judge_audit(self, child: Child, verdict: Verdict, audit_set: AuditSet,
                    outputs: list[Any], mapped: bool) -> None:
        """The audit's outputs against the reference's, with the judge's own tolerance."""
        try:
            reference = self.audit_reference(audit_set)
        except torch.OutOfMemoryError:  # no room beside the candidate's process: it ends here
            if mapped:  # its memory goes with it: the outputs are copied out first
                outputs[:] = [v.cpu() if isinstance(v, torch.Tensor) else v for v in outputs]
            ZYGOTE.end(child)
            verdict.not_measured["judge_timing"] = (
                "the candidate's process was ended before the judge's timed calls: the judge "
                "needed its device memory for the audit's reference")
            torch.cuda.empty_cache()
            reference = self.audit_reference(audit_set)
        try:
            check_structure(outputs, reference, same_device=False)
        except OutputMismatch as exc:
            raise AuditBroke(f"on the audit's inputs: {exc}") from None
        trial = compare(outputs, reference, audit_set.seed, audit_set.atol, audit_set.rtol,
                        fused=KERNELS.ready_for(outputs))
        verdict.audit = {"passed": trial.passed, "seed": audit_set.seed,
                         "elements": trial.elements, "mismatched": trial.mismatched,
                         "max_abs_error": trial.max_abs_error,
                         "atol": tolerance.base_atol(audit_set.atol),
                         "rtol": audit_set.rtol, "in_place": mapped}
        if not trial.passed:
            raise AuditBroke(
                f"{trial.mismatched} of {trial.elements} output elements wrong on the audit's "
                f"inputs (max abs error {trial.max_abs_error:.3g}, "
                f"atol {tolerance.describe(audit_set.atol)}, "
                f"rtol {audit_set.rtol:.3g}), although the candidate's process claimed a pass")

    def landing_device(self, size: int) -> torch.device:
        """Where the audit's outputs are received: the GPU, where they are compared in
        milliseconds, if they fit beside what the candidate's process holds; else host memory
        (the reference's chunks are still compared on the GPU)."""
        device = self.referee.device
        if device.type != "cuda":
            return device
        free, _ = torch.cuda.mem_get_info(device)
        return device if size + LANDING_HEADROOM <= free else torch.device("cpu")

    def race(self, child: Child, verdict: Verdict, audit_set: AuditSet) -> None:
        """Time the candidate from outside its process (tools/race.py): wrong outputs there are
        `audit_failed`, a claimed time faster than the bound allows is `timing_disputed`."""
        assert verdict.timing is not None
        claimed = verdict.timing.candidate.median_ms
        result = race.race(child.link, self.referee, claimed, audit_set.atol, audit_set.rtol)
        if result.not_measured:
            verdict.not_measured["judge_timing"] = result.not_measured
            return
        if result.wrong:
            return reject(verdict, f"in the judge's timed calls: {result.wrong}")
        verdict.audit.update(race_calls=result.calls, race_ms_per_call=result.ms_per_call)
        if result.disputed:
            add_flag(verdict.flags, Flag(race.FLAG, f"the candidate's {result.disputed}"))
            verdict.status = "fail"
            verdict.timing = None

    def kept_baselines(self) -> dict[str, Any] | None:
        """The baselines the host kept from an earlier verdict on this problem and device."""
        return self.options["baselines"].get(baseline_key(self.referee.device_info())) or None

    def early_compile(self) -> list[EarlyCompile]:
        """The torch.compile baseline's compile, started now on a thread, where this verdict
        may time the baselines (on a GPU, no kept ones) and one input set may stay on the
        device beside the candidate's process."""
        referee = self.referee
        if (referee.device.type != "cuda" or not self.options["timing"]
                or not self.options["compile_baseline"] or self.kept_baselines() is not None):
            return []
        inputs = referee.make_inputs(referee.timing_seeds()[0])
        if too_large_to_keep(inputs):
            return []
        return [EarlyCompile(referee.model, InputSet(inputs))]

    def measure_baselines(self, early: EarlyCompile | None) -> dict[str, Any]:
        """The eager and torch.compile references' times, as the host keeps them."""
        referee = self.referee
        started = perf_counter()
        with self.clock.phase("baselines"):
            compiled = early.result() if early is not None else None
            sets = [InputSet(referee.make_inputs(seed)) for seed in referee.timing_seeds()]
            eager, compiled_stats, error = referee.time_baselines(
                sets, L2Flusher(referee.device), self.options["time_box_s"], compiled)
        return {"eager": asdict(eager),
                "compiled": asdict(compiled_stats) if compiled_stats else None,
                "compile_error": error, "seconds": round(perf_counter() - started, 3)}


def add_baselines(verdict: Verdict, entry: dict[str, Any], cached: bool) -> None:
    """The baselines' times (`cached`: kept by the host from an earlier verdict) on the verdict,
    and the speedups they give."""
    timing = verdict.timing
    assert timing is not None
    timing.baseline_cached = cached
    timing.baseline_seconds = None if cached else entry.get("seconds")
    timing.eager = Stats(**entry["eager"])
    timing.compiled = Stats(**entry["compiled"]) if entry.get("compiled") else None
    timing.compile_error = entry.get("compile_error")
    median = timing.candidate.median_ms
    for name, stats, label in (("speedup_eager", timing.eager, "the eager reference"),
                               ("speedup_compiled", timing.compiled, "torch.compile")):
        if stats is not None and median > 0:
            setattr(timing, name, stats.median_ms / median)
            add_flag(verdict.flags, integrity.speedup_flag(getattr(timing, name), label))


def too_large_to_keep(values: list[Any]) -> bool:
    """Whether the judge should not hold these tensors on the device while the candidate's
    process runs: a problem sized to the device leaves no room for a second copy there."""
    return sum(t.numel() * t.element_size() for t in integrity.tensors(values)) > DEVICE_KEPT_BYTES


def read_claim(data: Any) -> tuple[Verdict, dict[str, Any]]:
    """The claimed verdict, if it is one. A claimed bad problem is the candidate's failure: the
    judge has loaded and run the same problem itself."""
    if not isinstance(data, dict):
        return unreadable("it sent no verdict"), {}
    extra = {"compiled_files": data.pop("compiled_files")} if "compiled_files" in data else {}
    try:
        verdict = typed(Verdict, data)
        if verdict.timing is not None and not 0 < verdict.timing.candidate.median_ms < 1e9:
            raise ValueError(f"a candidate time of {verdict.timing.candidate.median_ms!r} ms")
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        return unreadable(f"its verdict is not one ({exc})"[:500]), {}
    if verdict.status == "bad_input":
        verdict.status = "fail"
        verdict.correct = False
    if verdict.status != "pass":
        verdict.timing = None
    return verdict, extra


def review_claim(verdict: Verdict, source: str) -> None:
    """The static review of the candidate's source, made here in place of what the claim says
    of it (a candidate's process could leave its findings out), confirmed by the run-time flags
    claimed beside it. A rejecting finding fails a claimed pass.

    The run-time flags are the candidate's process's to send or to leave out, so two findings
    reject a pass here whatever the claim says: a source that defines no kernel at all, and
    one that reaches into the verifier's own state, whose process can rewrite its claim."""
    verdict.flags = [f for f in verdict.flags if not f.name.startswith("static_")]
    for flag in static_review.review(source):
        add_flag(verdict.flags, flag)
    static_review.confirm(verdict.flags)
    if verdict.status == "pass":
        if not static_review.defines_kernel(source):
            add_flag(verdict.flags, Flag("no_custom_kernel", static_review.NO_KERNEL))
        for flag in verdict.flags:
            if flag.name == "static_introspection" and flag.severity != "reject":
                flag.severity = "reject"
                flag.reason += (" (a process that can reach the verifier's state can rewrite "
                                "its claim)")
    if verdict.status == "pass" and any(f.severity == "reject" for f in verdict.flags):
        verdict.status, verdict.correct, verdict.timing = "fail", False, None


def unreadable(why: str) -> Verdict:
    return failing("sandbox", ErrorInfo("sandbox_error", f"the candidate's process: {why}"))


def failing(stage: str, error: ErrorInfo) -> Verdict:
    return Verdict(status="fail", stage=stage, correct=False, error=error)


class AuditBroke(Exception):
    """Why the audit fails the candidate."""


@contextlib.contextmanager
def audit_exchange() -> Iterator[None]:
    """An exchange with the candidate's process in the audit: its failures as AuditBroke."""
    try:
        yield
    except (OSError, channel.ChannelError) as exc:
        raise AuditBroke(f"the audit's exchange with the candidate's process broke off "
                         f"({exc})") from None
    except candidate_link.NoReply as exc:
        raise AuditBroke(f"the candidate's process: {exc}") from None
    except (tensor_transfer.TransferError, RuntimeError, ValueError) as exc:
        raise AuditBroke(f"the audit's outputs could not be read ({exc})") from None


def reject(verdict: Verdict, reason: str) -> None:
    add_flag(verdict.flags, Flag(AUDIT_FLAG, reason))
    verdict.status = "fail"
    verdict.correct = False
    verdict.timing = None


def died(status: dict[str, Any]) -> TaskFailure:
    """The failure of a candidate process that ended before it sent a verdict. A SIGKILL is
    reported as a crash with its signal: the host, which reads the task's cgroup, says
    out_of_memory where the OOM killer sent it (sandbox/outcome.py)."""
    if status.get("killed"):
        return TaskFailure("crashed", "the candidate's process closed its channel to the judge "
                                      "without sending a verdict")
    number = status.get("status", {}).get("signal")
    if number is not None:
        return TaskFailure("crashed", f"the candidate's process died with {signal_name(number)}",
                           number)
    code = status.get("status", {}).get("exit")
    return TaskFailure("crashed", f"the candidate's process exited with code {code} before it "
                                  "sent a verdict")


@contextlib.contextmanager
def private_compile_caches() -> Iterator[None]:
    """Triton's and Inductor's caches in a folder made now, which no candidate process could
    have written into: what the baselines compile is all the judge loads."""
    names = ("TRITON_CACHE_DIR", "TORCHINDUCTOR_CACHE_DIR")
    with (tempfile.TemporaryDirectory(prefix="judge-compile-") as folder,
          variables_set({name: os.path.join(folder, name.lower()) for name in names})):
        yield


def sum_of(phases: Any) -> float:
    if not isinstance(phases, dict):
        return 0.0
    return sum(v for v in phases.values() if isinstance(v, int | float) and v >= 0)


def merged(claimed: Any, own: dict[str, float]) -> dict[str, float]:
    """The candidate process's phases (what of them are numbers) and the judge's, added."""
    numbers = ({k: float(v) for k, v in claimed.items() if isinstance(v, int | float)}
               if isinstance(claimed, dict) else {})
    return summed(numbers, own)
