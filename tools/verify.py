"""The candidate's side of verification: judge one candidate against its reference problem.

Runs in the candidate's own process (tools/candidate_process.py), forked fresh for each
candidate; imports only the standard library, torch and (through the candidate) triton. Order of
work: load both files, build Model and ModelNew with identical weights, run correctness trials on
fresh inputs with integrity checks around every call, then, on a GPU and only for a correct
candidate, time it on fresh input sets, checking what every timed call returned (timed_check). A
static review of the source adds its findings last (static_review).

The candidate runs in this process, so it can read and change anything here: what this module
returns is the candidate process's claim, which the judge (tools/judge.py), a process that never
runs candidate code, audits on inputs this process never saw and completes with baselines it
measures itself. Within the claim, two defences make an honest verdict hard to fool: the last
trial's and the timing sets' reference outputs are computed only after the candidate has
returned on them (an answer copied out of memory exists for no other inputs, and a fast copy is
never what is timed), and the verifier's own functions are in the snapshot that finds
monkeypatching, checked after every judged call. Each verdict says how long each phase took
(phases).
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import inspect
import itertools
import os
import re
import traceback
from collections.abc import Callable
from contextlib import nullcontext, suppress
from pathlib import Path
from time import perf_counter
from types import ModuleType
from typing import Any

import torch

from kernel_agent.sandbox.worker import failure_kind
from kernel_agent.tools import integrity, numeric_settings, static_review, tolerance, trivial
from kernel_agent.tools.compare import (
    SHARED_CACHE_VARIABLE,
    OutputMismatch,
    check_structure,
    compare,
    flatten_outputs,
)
from kernel_agent.tools.compiled_store import (
    CompiledFilesError,
    file_names,
    pack,
    source_key,
    unpack,
)
from kernel_agent.tools.phases import PhaseClock
from kernel_agent.tools.problem import (
    CODE_FAILURES,
    Source,
    SpecError,
    excerpt,
    innermost_line,
    load_candidate,
    load_problem,
)
from kernel_agent.tools.problem_state import (
    STATES,
    InputEntry,
    ProblemState,
    clones,
)
from kernel_agent.tools.timed_check import TIMED_SETS, InputSet, TimedCalls, fresh_views
from kernel_agent.tools.timing import L2Flusher, synchronised_wall_ms, time_gpu
from kernel_agent.tools.tolerance import Atol
from kernel_agent.tools.verdict import ErrorInfo, Flag, Stats, Timing, Verdict, add_flag
from kernel_agent.tools.verifier_kernels import PAYLOAD_KEY

PAYLOAD_DEFAULTS: dict[str, Any] = {
    "trials": None,  # None: the problem's KERNEL_AGENT["trials"], else DEFAULT_TRIALS
    "atol": None,
    "rtol": None,
    "timing": True,
    # Baselines measured earlier for this problem, keyed by baseline_key(): reused if ours is there.
    "baselines": {},
    "compile_baseline": True,
    "seed": 1234,
    "small": None,  # None: small inputs on CPU, real inputs on a GPU
    "max_cpu_input_mb": 1024,
    "time_box_s": 0.3,  # per timed series: 100 runs, or fewer (MIN_RUNS) for long kernels
    # What the host kept of an earlier task's compiling of this source (tools/compiled_store.py),
    # and whether to send back the folder when this task compiled something new (a first run,
    # or one on another GPU or toolchain than the kept files were made for).
    "compiled_files": None,
    "keep_compiled": False,
    # The comparison kernel as the judge compiled it (tools/verifier_kernels.py), or None.
    PAYLOAD_KEY: None,
}
DEFAULT_TRIALS = 5
EXCERPT_CONTEXT = 2
MESSAGE_CHARS = 1500
# The sandbox's compile cache folder, as it was when this module was imported (run() points the
# variables at a folder per candidate source below it).
COMPILE_CACHE_BASE = os.environ.get("TRITON_CACHE_DIR")
# Words of a source that may import torch._dynamo, which wraps torch.manual_seed and
# nn.Module.__init__ as it is imported (tools/torch_settled.py).
BRINGS_DYNAMO = re.compile(r"_dynamo|torch\.compile|\bcompile\(|torch\.library|custom_op|"
                           r"torch\.export|_inductor")
# The last trial's inputs are seeded apart from the others: its reference outputs are computed
# only after the candidate returns and never kept, so no answer for them exists while it runs.
UNSEEN_SEED_OFFSET = 500


def run(payload: dict[str, Any], workdir: Path) -> tuple[dict[str, Any], Verification | None]:
    """In the candidate's process (tools/candidate_process.py): the payload in, the claimed
    Verdict as a dict out, with the Verification that made it (None if the models were never
    built), through which the judge's audit calls the candidate. `workdir`: where the problem's
    and the candidate's files are written to be imported."""
    started = perf_counter()
    options = {**PAYLOAD_DEFAULTS, **payload}
    clock = PhaseClock()
    with clock.phase("kernel_share"):  # the candidate's own kept kernels, put in place
        compiled = use_compile_caches(options["candidate"]["text"], options["compiled_files"])
    gpu = gpu_available()
    if not gpu:
        os.environ["TRITON_INTERPRET"] = "1"  # must precede the candidate's `import triton`
    with clock.phase("imports"), suppress(ImportError):
        import triton  # noqa: F401  (preloaded on a GPU; under the interpreter, imported here)

        if not gpu:
            from kernel_agent.tools import interpreter_fixes

            interpreter_fixes.install()
    if gpu:
        with clock.phase("imports"):  # before the snapshots, so that patching it is seen
            import kernel_agent.tools.compare_kernel  # noqa: F401
        with clock.phase("kernel_share"):
            use_verifier_kernels(options[PAYLOAD_KEY], workdir / "verifier-kernels")
        with clock.phase("cuda_init"):
            torch.zeros(1, device="cuda")  # this process's CUDA context
            torch.cuda.synchronize()
        clock.sync = torch.cuda.synchronize  # from here on, each phase's device work is its own
    with clock.phase("other"):
        verification = Verification(options, workdir, clock)
        verdict = verification.verdict()
    packed = None
    # Read and sent only when this task compiled something the host did not send.
    if (compiled is not None and options["keep_compiled"]
            and set(file_names(compiled)) != set(options["compiled_files"] or ())):
        with clock.phase("kernel_share"):
            packed = pack(compiled)
    verdict.elapsed_s = round(perf_counter() - started, 3)
    verdict.phases = clock.rounded()
    result = Verdict.to_dict(verdict)
    if packed is not None:
        result["compiled_files"] = packed  # beside the verdict's own "compiled"
    return result, verification if hasattr(verification, "new") else None


def use_compile_caches(candidate_text: str, kept: Any = None) -> Path | None:
    """Triton's and load_inline's build folders, one per candidate source: a source verified
    again (re-timing, `check` again) compiles nothing, and different sources share nothing.
    `kept`: the host's files from an earlier task's compiling of this source, put in place
    unless this process already has the folder. Returns the folder (None outside a sandbox)."""
    if COMPILE_CACHE_BASE is None:
        return None
    folder = Path(COMPILE_CACHE_BASE) / source_key(candidate_text)
    os.environ["TRITON_CACHE_DIR"] = str(folder / "triton")
    os.environ["TORCH_EXTENSIONS_DIR"] = str(folder / "torch_extensions")
    if kept and not folder.exists():
        with suppress(CompiledFilesError, OSError):  # then it compiles, as without them
            unpack(kept, folder)
    return folder


def use_verifier_kernels(files: Any, folder: Path) -> None:
    """The judge's compiled comparison kernel put where this process's comparisons find it;
    without it they use torch operations, which cost less than compiling it here."""
    os.environ.pop(SHARED_CACHE_VARIABLE, None)
    if files:
        with suppress(CompiledFilesError, OSError):
            unpack(files, folder)
            os.environ[SHARED_CACHE_VARIABLE] = str(folder)


def uses_cpp_extension(text: str) -> bool:
    return "load_inline" in text or "cpp_extension" in text


@functools.cache
def gpu_available() -> bool:
    """Whether this process verifies on a GPU, asked without starting CUDA (torch counts devices
    through NVML until CUDA is up): the judge asks before it forks a candidate's process, and
    starting the driver then (0.2 s on an H100) would hold that process back."""
    return torch.cuda.device_count() > 0


class CandidateError(Exception):
    """Something the candidate did wrong, already described for the verdict."""

    def __init__(self, kind: str, message: str, stage: str, *, file: str | None = None,
                 line: int | None = None, excerpt: str = "") -> None:
        super().__init__(message)
        self.kind, self.stage, self.file, self.line, self.excerpt = kind, stage, file, line, excerpt

    def message_text(self) -> str:
        text = str(self)
        return text if len(text) <= MESSAGE_CHARS else text[:MESSAGE_CHARS] + " ... (cut)"


class Verification:
    """One candidate's verification, stage by stage."""

    def __init__(self, options: dict[str, Any], workdir: Path,
                 clock: PhaseClock | None = None) -> None:
        self.options, self.workdir = options, workdir
        self.clock = clock or PhaseClock()
        self.candidate_calls = 0
        self.device = torch.device("cuda" if gpu_available() else "cpu")
        self.problem_source = Source(**options["problem"])
        self.candidate_source = Source(**options["candidate"])
        self.flags: list[Flag] = []
        self.trials: list[Any] = []
        self.atol: Atol | None = None
        self.rtol: float | None = None
        self.custom_kernels: dict[str, Any] = {}

    # -- the whole run -------------------------------------------------------------------------

    def verdict(self) -> Any:
        phase = self.clock.phase
        try:
            with phase("load_problem"):
                self.load_problem()
                self.take_snapshots()
        except SpecError as exc:
            return self.bad_problem(exc)
        verdict = Verdict(status="fail", stage="load_candidate", device=self.device_info())
        searches = integrity.OBJECT_SEARCHES
        searches.seen.clear()
        self.threads_before = integrity.threads_running()
        settings_before = numeric_settings.snapshot()
        try:
            with searches.watch():  # from here on, candidate code may run
                with phase("load_candidate"):
                    self.load_candidate()
                verdict.compiled = True
                with phase("build_models"):
                    self.build_models()
                with phase("correctness_trials"):
                    self.run_trials()
                with phase("kernel_share"):
                    self.check_after_trials()
                self.add_flag(integrity.thread_flag(self.threads_before, "after its checked calls"))
                verdict.correct = all(t.passed for t in self.trials)
                if verdict.correct and not self.rejecting():
                    verdict.timing = self.time_if_possible(verdict)
        except CandidateError as exc:
            verdict.stage = exc.stage
            verdict.error = ErrorInfo(exc.kind, exc.message_text(), exc.file, exc.line,
                                      exc.excerpt)
            verdict.correct = False if exc.stage != "load_candidate" else None
        except SpecError as exc:  # the problem failed at run time (e.g. get_inputs raised)
            return self.bad_problem(exc)
        with phase("kernel_check"):
            self.check_kernels()
        self.add_flag(searches.flag())
        self.add_flag(settings_flag(settings_before))
        with phase("static_review"):
            for flag in static_review.review(self.candidate_source.text):
                self.add_flag(flag)
            static_review.confirm(self.flags)
        verdict.trials, verdict.flags = self.trials, self.flags
        if self.atol is not None:
            verdict.tolerance = {**tolerance.to_json(self.atol), "rtol": self.rtol}
        verdict.custom_kernels = self.custom_kernels
        verdict.not_measured.update(self.not_measured())
        if verdict.error is None:
            verdict.stage = "done"
            if verdict.correct and not self.rejecting():
                verdict.status = "pass"
        return verdict

    def rejecting(self) -> bool:
        return any(f.severity == "reject" for f in self.flags)

    def device_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"type": self.device.type, "torch": torch.__version__}
        try:  # the installed version, without importing Triton (0.3 s) into the judge
            info["triton"] = importlib.metadata.version("triton")
        except importlib.metadata.PackageNotFoundError:
            info["triton"] = None
        if self.device.type == "cuda":
            info["name"] = torch.cuda.get_device_name(self.device)
        else:
            info["name"] = "cpu (Triton interpreter)"
        return info

    def not_measured(self) -> dict[str, str]:
        if self.device.type == "cuda":
            return {}
        return {"timing": "no GPU on this machine: correctness ran under the Triton interpreter "
                          f"on {'small' if self.small else 'full-size'} inputs; speed needs a GPU",
                "memory_poisoning": "needs a GPU (the CPU allocator has no cache to poison)",
                "gpu_time_share": "needs a GPU profiler; launches of the candidate's Triton "
                                  "kernels were counted instead",
                "races": "the interpreter runs a kernel's programs one after another, so a race "
                         "between them (a load, add and store where an atomic is needed) or a "
                         "GPU-only launch requirement (triton.set_allocator for tensor "
                         "descriptors) cannot show here"}

    # -- stages --------------------------------------------------------------------------------

    def load_problem(self) -> None:
        self.state_key = STATES.key(self.problem_source.text, self.device, self.options["seed"],
                                    self.options["small"])
        self.state = STATES.get(self.state_key)
        self.problem = (self.state.problem if self.state
                        else load_problem(self.problem_source, self.workdir))
        meta = self.problem.metadata
        self.dtype = getattr(torch, meta.dtype) if meta.dtype else None
        self.trial_count = int(self.options["trials"] or meta.trials or DEFAULT_TRIALS)
        small = self.options["small"]
        if small is None:
            small = self.device.type == "cpu" and self.problem.has("get_small_inputs")
        if small and not self.problem.has("get_small_inputs"):
            raise SpecError("small inputs were asked for but there is no get_small_inputs()",
                            role="problem", path=self.problem_source.path)
        self.small = bool(small)
        if self.device.type == "cpu" and not self.small:
            self.require_cpu_sized_inputs()
        self.settings = self.state.settings if self.state else numeric_settings.snapshot()

    def take_snapshots(self) -> None:
        """What the candidate must leave as it is, as it was before its code ran. Where the
        source may bring Dynamo in (torch.compile, torch.library's custom ops, Dynamo itself),
        torch's own changes to itself on Dynamo's import are made first (0.7 s, for those
        candidates only), or they would read as the candidate's patching of torch."""
        if BRINGS_DYNAMO.search(self.candidate_source.text):  # once a process: a cached import
            importlib.import_module("kernel_agent.tools.torch_settled")
        self.snapshot = integrity.snapshot_callables()
        self.modes = integrity.active_torch_modes()
        self.hooks = integrity.interpreter_hooks()
        self.kernels = integrity.aten_kernels()

    def require_cpu_sized_inputs(self) -> None:
        """Refuse GPU-sized problems on a CPU with a message that says what to add."""

        try:
            with torch.device("meta"):
                shapes = self.problem.inputs(small=False)
        except SpecError:
            return  # get_inputs cannot run on the meta device; the real call will tell
        nbytes = sum(t.numel() * t.element_size() for t in shapes if isinstance(t, torch.Tensor))
        limit = self.options["max_cpu_input_mb"] << 20
        if nbytes > limit:
            raise SpecError(
                f"get_inputs() makes {nbytes / 2**30:.2f} GiB of tensors, too large for a CPU "
                f"run (limit {limit >> 20} MiB) and there is no get_small_inputs(): add "
                "get_small_inputs() returning the same inputs at small shapes, or run on a GPU",
                role="problem", path=self.problem_source.path)

    def load_candidate(self) -> None:
        try:
            self.new_class = load_candidate(self.candidate_source, self.workdir)
        except SpecError as exc:
            raise CandidateError("load_error", str(exc), "load_candidate", file=exc.path,
                                 line=exc.line, excerpt=self.excerpt(exc.line)) from None
        self.candidate_module = inspect.getmodule(self.new_class)
        self.check_backend()
        self.launches = integrity.LaunchCounter(self.candidate_module)
        self.add_flag(integrity.monkeypatch_flag(self.snapshot, "while importing the candidate"))
        self.add_flag(integrity.torch_mode_flag(self.modes, "after importing the candidate"))
        self.add_flag(integrity.interpreter_hook_flag(self.hooks, "after importing the candidate"))

    def check_backend(self) -> None:
        text = self.candidate_source.text
        used = {"cuda"} if uses_cpp_extension(text) else set()
        if "triton" in text:
            used.add("triton")
        disallowed = used - set(self.problem.metadata.backends)
        if disallowed:
            raise CandidateError(
                "backend_not_allowed", f"the candidate uses {sorted(disallowed)} but the problem "
                f"allows only {list(self.problem.metadata.backends)}", "load_candidate")

    def build_reference(self) -> list[Any]:
        """The reference Model, built from the seed (the same weights in every process that
        builds it: the judge's audit relies on it); returns the init inputs."""
        torch.manual_seed(self.options["seed"])  # init inputs may be random: the same each time
        with numeric_settings.applied(self.settings):
            init = self.problem.init_inputs(self.small)
        if self.state is None:
            torch.manual_seed(self.options["seed"])
            with torch.device(self.device), numeric_settings.applied(self.settings):
                model = self.problem.model_class(*init)
            self.state = ProblemState(self.problem, model, settings=self.settings)
            STATES.keep(self.state_key, self.state)
        self.model = self.state.model
        return init

    def build_models(self) -> None:
        init = self.build_reference()
        try:
            inspect.signature(self.new_class).bind(*init)
        except TypeError as exc:
            line = self.line_of(self.new_class.__init__)
            raise CandidateError(
                "constructor_error", f"ModelNew's constructor does not accept the problem's init "
                f"inputs {summarise(init)}: {exc}", "build", file=self.candidate_source.path,
                line=line, excerpt=self.excerpt(line)) from None
        torch.manual_seed(self.options["seed"])
        self.new = self.guarded("build", lambda: self.instantiate(init))
        copy_matching_weights(self.model, self.new)
        if hasattr(self, "launches"):
            self.launches.add(self.new)  # kernels the model made or holds itself

    def instantiate(self, init: list[Any]) -> Any:
        with torch.device(self.device):
            return self.new_class(*init)

    def make_inputs(self, seed: int) -> list[Any]:
        torch.manual_seed(seed)
        with (self.clock.phase("inputs"), torch.device(self.device),
              numeric_settings.applied(self.settings)):
            return self.problem.inputs(self.small)

    def input_set(self, seed: int, answered: bool = True) -> InputEntry:
        """The inputs for `seed` as made and, if `answered`, the reference's outputs for them,
        computed on copies: the set stays as get_inputs() made it, whatever the reference does
        to it. An unanswered set's outputs come from `reference_after`, once the candidate has
        returned."""
        inputs = self.make_inputs(seed)
        return InputEntry(inputs, self.reference_after(inputs) if answered else [])

    def reference_after(self, inputs: list[Any], copy: bool = True) -> list[torch.Tensor]:
        """The reference's outputs for `inputs`, computed on copies of them unless the inputs
        are needed for nothing else (`copy=False`)."""
        with self.clock.phase("inputs"):
            copies = clones(inputs) if copy else inputs
        return self.call_reference(copies)

    def answer_after(self, entry: InputEntry, before: integrity.Fingerprint) -> list[Any]:
        """The reference's outputs for an unanswered set, once the candidate has returned on it;
        flagged if the verifier's copy of the inputs changed meanwhile (`before` is its
        fingerprint): the reference would judge the candidate on what the candidate wrote."""
        if changed_since(entry.inputs, before):
            self.add_flag(Flag("verifier_inputs_modified", "the verifier's own copy of the "
                               "inputs changed while the candidate ran"))
        return self.reference_after(entry.inputs, copy=False)

    def timing_inputs(self, entry: InputEntry) -> list[Any]:
        """A timing set's inputs for the candidate: the tensors themselves, which halves the
        inputs' memory (see timing_answer)."""
        return list(entry.inputs)

    def timing_answer(self, seed: int, entry: InputEntry,
                      before: integrity.Fingerprint) -> list[Any]:
        """The reference's outputs for a timing set, after the timed calls. A set the candidate
        was timed on itself (timing_inputs) must not feed the reference: the candidate holds
        those tensors and could change them again (from a thread, say) between this check and
        the reference's run. The set is made again from its seed instead, never seen by the
        candidate, and used if it is what was made before; a write into the candidate's set is
        `inputs_modified`. Only where get_inputs does not give the same set for the same seed
        does the reference run on the candidate's set, checked just before."""
        if changed_since(entry.inputs, before):
            self.add_flag(Flag("inputs_modified", "the candidate wrote into its inputs while "
                               "it was timed"))
        made = self.make_inputs(seed)
        if not changed_since(made, before):
            return self.reference_after(made, copy=False)
        return self.reference_after(entry.inputs, copy=False)

    def candidate_inputs(self, entry: InputEntry) -> list[Any]:
        """The candidate's own copies: whatever it does to them, the set stays as made."""
        with self.clock.phase("inputs"):
            return clones(entry.inputs)

    def trial_seed(self, number: int) -> int:
        return self.options["seed"] + 1000 * (number + 1)

    def run_trials(self) -> None:
        previous: tuple[Any, Any] | None = None
        output_bytes: list[int] = []  # the reference's outputs' sizes, for an unseen trial
        for number in range(self.trial_count):
            unseen = number == self.trial_count - 1
            seed = self.trial_seed(number) + (UNSEEN_SEED_OFFSET if unseen else 0)
            entry = self.input_set(seed, answered=not unseen)
            inputs = self.candidate_inputs(entry)
            originals = integrity.tensors(entry.inputs)
            as_made = integrity.Fingerprint.of(originals) if unseen else None
            input_bytes = sum(t.numel() * t.element_size() for t in originals)
            integrity.poison_free_memory(self.device, 2 * input_bytes)
            integrity.poison_freed_like(integrity.cpu_bytes(entry.outputs) or output_bytes)
            outputs = self.call_candidate(inputs)
            subclassed = [type(o).__name__ for o in outputs
                          if type(o) not in (torch.Tensor, torch.nn.Parameter)]
            if subclassed:
                self.add_flag(Flag(
                    "output_not_plain_tensor", f"the output is a {subclassed[0]}, a tensor "
                    "subclass whose operations can run its work later, outside the timer"))
            aliases = integrity.aliased_outputs(outputs, inputs)
            if aliases:
                self.add_flag(Flag(
                    "output_aliases_input",
                    f"output {aliases[0][0]} shares memory with input {aliases[0][1]}"))
            changed = integrity.changed_inputs(inputs, originals)
            if changed:
                self.add_flag(Flag(
                    "inputs_modified", f"the candidate wrote into input(s) {changed}"))
            reference = (list(entry.outputs) if as_made is None
                         else self.answer_after(entry, as_made))
            try:
                check_structure(outputs, reference)
            except OutputMismatch as exc:
                raise CandidateError("output_mismatch", str(exc), "correctness") from None
            if self.atol is None:
                self.atol, self.rtol, flag = trivial.judged_tolerance(
                    reference, self.dtype, self.declared("atol"), self.declared("rtol"))
                self.add_flag(flag)
            trial = compare(outputs, reference, seed, self.atol, self.rtol)
            self.trials.append(trial)
            self.check_patching()
            output_bytes = integrity.cpu_bytes(reference)
            if unseen and number and not trial.passed and all(t.passed for t in self.trials[:-1]):
                self.add_flag(Flag(
                    "wrong_on_unseen_inputs", f"right on the {number} input set(s) whose "
                    "reference outputs were in memory while it ran, wrong on the one whose "
                    "reference was computed only after it returned: the output may be read from "
                    "the verifier's memory rather than computed"))
            if trial.mismatched > trial.elements // 2 and not self.has_flag("stale_memory"):
                self.check_stale_memory(inputs, reference)
            prints = (integrity.Fingerprint.of(outputs), integrity.Fingerprint.of(reference))
            if previous and prints[0].same_as(previous[0]) and not prints[1].same_as(previous[1]):
                self.add_flag(Flag(
                    "output_ignores_inputs", f"trial {number} returned the same output as trial "
                    f"{number - 1} although the inputs and the reference's output changed "
                    "(cached result)"))
            previous = prints
            del outputs, reference, inputs, originals

    def check_patching(self) -> None:
        """After each of the candidate's calls is judged: nothing of torch, the timers or the
        verifier's own code replaced (a comparison that passes anything, say), and no torch mode
        or interpreter hook left in force to intercept the verifier's own operations."""
        if not self.has_flag("monkeypatched"):
            self.add_flag(integrity.monkeypatch_flag(self.snapshot, "while the candidate ran"))
        if not self.has_flag("torch_mode_left_active"):
            self.add_flag(integrity.torch_mode_flag(self.modes, "after the candidate's calls"))
        if not self.has_flag("interpreter_hook_left_active"):
            self.add_flag(integrity.interpreter_hook_flag(self.hooks,
                                                          "after the candidate's calls"))

    def check_kernels(self) -> None:
        """No operator of torch's own given another kernel (a comparison answering "close").
        Once, after the candidate's last call, not after every call as check_patching is:
        fingerprinting the operators takes 0.1-0.2 s. A kernel put back before then went
        unseen, yet every check of the candidate's own process is a claim the judge re-checks
        in its own process, where the candidate's kernels never are."""
        self.add_flag(integrity.kernel_override_flag(
            self.kernels, "while the candidate was loaded, ran or was timed"))

    def check_stale_memory(self, inputs: list[Any], reference: list[Any]) -> None:
        """Mostly wrong on poisoned memory, right once the reference's result was freed: stale.

        Only asked when most elements are wrong: a kernel that misses a few (a masking bug)
        and picks them up from freed memory is a correctness failure, not a no-op.
        """

        kept = [r.clone() for r in reference]
        reference.clear()
        # Copies of the result, freed at once: the allocator hands their blocks to the next
        # allocations of the same sizes, i.e. to the candidate's outputs, wherever the
        # reference's own blocks went (its temporaries and our comparisons reuse those).
        bait = [k.clone() for k in kept]
        del bait
        retry = self.call_candidate(inputs)
        if [t.shape for t in retry] == [t.shape for t in kept] and compare(
                retry, kept, 0, self.atol, self.rtol).passed:
            self.add_flag(Flag("stale_memory", "mostly wrong, but right once the reference's "
                               "freed result was left where its outputs are allocated: the output "
                               "is read from stale memory, not computed"))
        reference.extend(kept)

    def check_after_trials(self) -> None:
        self.check_patching()
        names = integrity.custom_kernel_names(self.candidate_module, self.candidate_source.text,
                                              self.new)
        if self.device.type == "cuda":
            inputs = self.candidate_inputs(self.input_set(self.trial_seed(0)))
            times = integrity.gpu_kernel_times(lambda: self.call_candidate(inputs))
            flags, self.custom_kernels = integrity.custom_share_flags(times, names)
            for flag in flags:
                self.add_flag(flag)
        else:
            self.custom_kernels = {"names": sorted(names), "launches": dict(self.launches.counts)}
            if self.launches.total == 0:
                self.add_flag(Flag(
                    "no_custom_kernel", "no Triton kernel defined by the candidate was launched; "
                    "the output came from PyTorch operations"))
            else:
                self.add_flag(self.torch_compute_flag())

    def torch_compute_flag(self) -> Flag | None:
        """On a CPU: whether PyTorch's operators did most of the reference's matrix arithmetic
        in a call of the candidate (launching a kernel of its own is not enough)."""
        entry = self.input_set(self.trial_seed(0), answered=False)
        reference = integrity.torch_flops(lambda: self.reference_after(entry.inputs))
        if reference == 0:  # elementwise work, reductions: nothing the counter counts
            return None
        inputs = self.candidate_inputs(entry)
        return integrity.torch_compute_flag(
            integrity.torch_flops(lambda: self.call_candidate(inputs)), reference)

    def time_if_possible(self, verdict: Verdict) -> Timing | None:
        if self.device.type != "cuda":
            return None
        if not self.options["timing"]:
            verdict.not_measured["timing"] = "turned off (--no-timing)"
            return None
        with self.clock.phase("timing"):
            return self.guarded("timing", self.time_on_gpu)

    def time_on_gpu(self) -> Timing:
        """Candidate, eager reference and torch.compile reference, timed the same way.

        All three rotate over the same fresh input sets; every candidate call made here is
        checked against the reference for its set (see timed_check).
        """
        seeds = self.timing_seeds()
        entries = [self.input_set(seed, answered=False) for seed in seeds]
        as_made = [integrity.Fingerprint.of(integrity.tensors(e.inputs)) for e in entries]
        calls = TimedCalls([InputSet(self.timing_inputs(e)) for e in entries], self.new,
                           0.0 if self.atol is None else self.atol, self.rtol or 0.0)
        flush = L2Flusher(self.device)
        box = self.options["time_box_s"]
        event_ms, wall_ms = synchronised_wall_ms(calls, after=calls.record)
        self.add_flag(integrity.stream_escape_flag(event_ms, wall_ms))
        timing = Timing(candidate=time_gpu(calls, flush, time_box_s=box, after=calls.record))
        with self.clock.phase("timed_output_check"):
            calls.add_references((self.timing_answer(*set_made)
                                  for set_made in zip(seeds, entries, as_made, strict=True)),
                                 keep=False)
            self.add_flag(calls.flag())
            self.check_patching()
            self.add_flag(integrity.thread_flag(self.threads_before, "after its timed calls"))
        return timing

    def timing_seeds(self) -> list[int]:
        """The seeds of the timing sets: fresh sets made like the trials' inputs (seeds no trial
        used), with no reference outputs: those are computed after the timed calls."""
        return [self.trial_seed(self.trial_count) + 7 * (number + 1)
                for number in range(TIMED_SETS)]

    def time_baselines(self, sets: list[InputSet], flush: L2Flusher, box: float,
                       compiled_model: tuple[Callable[..., Any] | None, str | None] | None = None
                       ) -> tuple[Stats, Stats | None, str | None]:
        """The eager and torch.compile references' times. `compiled_model`: the compiled model
        (or None and why) where it was compiled already, else it is compiled here."""
        eager_stats = time_gpu(rotating(self.model, sets), flush, time_box_s=box)
        if not self.options["compile_baseline"]:
            return eager_stats, None, "torch.compile baseline turned off"
        model, error = compiled_model or (compiled_here(self.model), None)
        if model is None:
            return eager_stats, None, error
        compiled = rotating(model, sets)
        try:
            with integrity.OBJECT_SEARCHES.watch(on=False):  # Inductor's own, not the candidate's
                return eager_stats, time_gpu(compiled, flush, time_box_s=box), None
        except Exception as exc:  # an inductor failure must not cost the candidate its verdict
            return eager_stats, None, f"torch.compile failed: {type(exc).__name__}: {exc}"[:500]

    # -- helpers -------------------------------------------------------------------------------

    def declared(self, name: str) -> float | None:
        """The option `name`, else the problem's own value, else None."""
        for value in (self.options[name], getattr(self.problem.metadata, name)):
            if value is not None:
                return float(value)
        return None

    def has_flag(self, name: str) -> bool:
        return any(f.name == name for f in self.flags)

    def add_flag(self, flag: Flag | None) -> None:
        add_flag(self.flags, flag)

    def call_reference(self, inputs: list[Any]) -> list[Any]:
        """The problem's own forward; if it fails, the problem is what is wrong."""
        try:
            with (self.clock.phase("reference_outputs"), torch.no_grad(),
                  numeric_settings.applied(self.settings)):
                return flatten_outputs(self.model(*inputs))
        except CODE_FAILURES as exc:
            module_file = self.problem.module.__file__ or ""
            raise SpecError(f"the reference Model raised {type(exc).__name__}: {exc}",
                            role="problem", path=self.problem_source.path,
                            line=innermost_line(exc, module_file)) from None

    def call_candidate(self, inputs: list[Any]) -> list[Any]:
        def call() -> list[Any]:
            with torch.no_grad():
                result = self.new(*inputs)
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            return result

        first = self.candidate_calls == 0
        self.candidate_calls += 1
        with self.clock.phase("first_call") if first else nullcontext():  # JIT compiles here
            result = self.guarded("run", call)
        try:
            return flatten_outputs(result)
        except OutputMismatch as exc:
            raise CandidateError("output_mismatch", str(exc), "correctness") from None

    def guarded(self, stage: str, fn: Callable[[], Any]) -> Any:
        """Run candidate code; turn its exceptions into a CandidateError naming its own line."""
        try:
            return fn()
        except CandidateError:
            raise
        except CODE_FAILURES as exc:
            text = "".join(traceback.format_exception_only(exc)).strip()
            kind = failure_kind(exc) or (
                "constructor_error" if stage == "build" else "runtime_error")
            line = self.candidate_line(exc)
            raise CandidateError(kind, text, stage, file=self.candidate_source.path, line=line,
                                 excerpt=self.excerpt(line)) from None

    def candidate_line(self, exc: BaseException) -> int | None:
        module: ModuleType | None = getattr(self, "candidate_module", None)
        return innermost_line(exc, module.__file__) if module and module.__file__ else None

    def line_of(self, obj: object) -> int | None:
        try:
            return inspect.getsourcelines(obj)[1]  # type: ignore[arg-type]
        except (OSError, TypeError):
            return None

    def excerpt(self, line: int | None) -> str:
        return excerpt(self.candidate_source.text, line, EXCERPT_CONTEXT)

    def bad_problem(self, exc: SpecError) -> Verdict:
        """A problem that cannot be used, with the lines around the one at fault: a person
        fixing the file needs to see it."""
        source = self.problem_source if exc.role == "problem" else self.candidate_source
        return Verdict(status="bad_input", stage="load_problem", device=self.device_info(),
                       error=ErrorInfo("bad_problem", str(exc), exc.path, exc.line,
                                       excerpt(source.text, exc.line, EXCERPT_CONTEXT)))


def changed_since(inputs: list[Any], before: integrity.Fingerprint) -> bool:
    """Whether the tensors of a set's inputs differ from the fingerprint `before`."""
    return not integrity.Fingerprint.of(integrity.tensors(inputs)).same_as(before)


def copy_matching_weights(source: Any, target: Any) -> None:
    """Give ModelNew the reference's weights wherever names and shapes agree."""
    theirs = source.state_dict()
    with torch.no_grad():
        for name, tensor in target.state_dict().items():
            if name in theirs and theirs[name].shape == tensor.shape:
                tensor.copy_(theirs[name])


def settings_flag(before: dict[str, Any]) -> Flag | None:
    """A review flag naming the numeric settings the candidate left changed."""
    changes = numeric_settings.changed(before)
    if not changes:
        return None
    return Flag("numeric_settings_changed", "the candidate changed torch's process-wide numeric "
                f"settings ({'; '.join(changes[:6])}); the problem's inputs, reference outputs "
                "and baselines ran under the original settings, the candidate's own calls under "
                "its own", severity="review")


def compiled_here(model: Callable[..., Any]) -> Callable[..., Any]:
    """torch.compile of `model`, compiling in this process and leaving no thread behind, so that
    the verifier's task process can stay resident (sandbox/resident.py) for the problem's next
    candidate: Inductor's compile workers would leave threads and child processes, and the
    progress bar Inductor makes (hidden) starts tqdm's monitor thread unless turned off."""
    compiling_in_this_thread()
    with suppress(ImportError):
        from tqdm import tqdm

        tqdm.monitor_interval = 0
    return torch.compile(model)


def compiling_in_this_thread() -> None:
    """Inductor's settings are the calling thread's own: every thread that may compile (the
    judge's baseline thread too) must turn its compile workers off itself."""
    import torch._inductor.config as inductor

    inductor.compile_threads = 1


def rotating(model: Callable[..., Any], sets: list[InputSet]) -> Callable[[], Any]:
    """A no-argument call of `model` that takes the next input set each time."""
    turn = itertools.count()

    def call() -> Any:
        with torch.no_grad():
            return model(*fresh_views(sets[next(turn) % len(sets)].inputs))
    return call


def summarise(values: list[Any]) -> str:
    parts = [f"Tensor{tuple(v.shape)}" if isinstance(v, torch.Tensor) else repr(v)
             for v in values]
    return "(" + ", ".join(parts) + ")"
