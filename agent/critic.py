"""The critic: what the evidence says went wrong, then the prompt for the next attempt.

`diagnose` is a pure function of a verdict and the candidate's source: a compile error becomes
the exact lines, a wrong output becomes the shape of the error (which rows, columns or elements,
a constant factor, NaN), an integrity flag becomes what was detected and why it is disallowed,
and a correct kernel becomes what its timing says. A model then turns the diagnosis into advice;
the refined prompt carries the diagnosis verbatim besides that advice, so the evidence reaches
the next attempt even when the critic model answers badly or not at all. Every text in the
critic's prompt and in the refined prompt is capped (tools/feedback.py); a cut one is kept whole
in the feedback store, whose file the prompt names.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from kernel_agent.agent.prompts import (
    BEST_SECTION,
    CRITIC_PROMPT,
    CRITIC_SYSTEM,
    REFINED_PROMPT,
    REQUEST_LINE,
)
from kernel_agent.agent.reasoning import split_reasoning
from kernel_agent.tools.feedback import (
    ADVICE_CHARS,
    CODE_CHARS,
    DIAGNOSIS_CHARS,
    HISTORY_LINE_CHARS,
    VERDICT_CHARS,
    FeedbackStore,
    clip,
)
from kernel_agent.tools.problem import excerpt
from kernel_agent.tools.verdict import Trial, Verdict

__all__ = ["Advice", "BestCode", "Diagnosis", "diagnose", "no_code_diagnosis", "refined_prompt",
           "write_advice"]

EXCERPT_CONTEXT = 2
HISTORY_ENTRIES = 8
OWN_ENTRIES = 4
MOSTLY = 0.9  # share of elements wrong that counts as "every element"
LOCATION_PREFIX = re.compile(r"^(candidate|problem) \S+?(:\d+)?: ")

WHY_DISALLOWED = {
    "inputs_modified": "writing into the inputs changes what the caller holds; compute the "
                       "output into new memory and leave the inputs untouched",
    "output_aliases_input": "returning an input (or a view of one) is not computing a result, "
                            "and the caller would see its input change under it",
    "output_ignores_inputs": "an output that stays the same when the inputs change is a cached "
                             "result, not a computation",
    "monkeypatched": "replacing torch functions or timers tampers with how the kernel is "
                     "compared and timed",
    "no_custom_kernel": "the task is to do the work in custom kernels; computing the result "
                        "with PyTorch operations is the baseline, not a solution",
    "custom_kernels_minor": "most of the GPU time is spent in library kernels, so the speed "
                            "measured is not the custom kernel's",
    "work_off_timed_stream": "work launched on another stream escapes the timing, so the "
                             "measured speed would be false",
    "stale_memory": "reading an earlier result out of freed memory is not computing it",
    "suspicious_speedup": "speedups this large usually mean work was skipped",
}


@dataclass(frozen=True)
class Diagnosis:
    """What went wrong (or right), as a kind, one headline and the evidence lines behind it."""

    kind: str  # compile_error, runtime_error, crash, wrong_output, nonfinite, integrity, slow,
    #            correct, no_code, bad_problem
    headline: str
    evidence: tuple[str, ...] = ()

    def text(self) -> str:
        return "\n".join([self.headline, *(f"- {line}" if "\n" not in line else line
                                           for line in self.evidence)])


@dataclass(frozen=True)
class BestCode:
    """The best kernel so far, as the next prompt shows it."""

    code: str
    round: int
    outcome: str


@dataclass(frozen=True)
class Advice:
    """The critic model's instructions, or the fallback written from the diagnosis alone."""

    text: str
    message: AIMessage | None = None
    error: str | None = None
    seconds: float = 0.0


@dataclass
class _Notes:
    lines: list[str] = field(default_factory=list)

    def add(self, line: str | None) -> None:
        if line:
            self.lines.append(line)


def diagnose(verdict: Verdict, source: str, *, target_speedup: float | None = None) -> Diagnosis:
    """The diagnosis a verdict supports, most decisive finding first."""
    if verdict.status == "bad_input":
        message = verdict.error.message if verdict.error else "the problem cannot be used"
        return Diagnosis("bad_problem", f"the reference problem itself failed: {message}")
    if verdict.error is not None:
        return _error_diagnosis(verdict, source)
    failing = [t for t in verdict.trials if not t.passed]
    output = _output_diagnosis(verdict, failing) if failing else None
    rejecting = verdict.rejecting_flags
    if output is not None and output.kind == "nonfinite":
        return output  # NaN everywhere also looks like an output that ignores its inputs
    if rejecting:
        return Diagnosis("integrity", "rejected by an integrity check: " + ", ".join(
            f.name for f in rejecting), tuple(
            f"{f.name}: detected: {f.reason}; disallowed because "
            f"{WHY_DISALLOWED.get(f.name, 'it defeats the verifier')}" for f in rejecting)
            + ((output.headline, *output.evidence) if output else ()))
    if output is not None:
        return output
    return _speed_diagnosis(verdict, target_speedup)


def no_code_diagnosis(note: str) -> Diagnosis:
    """For a round in which the model's answer held no usable file."""
    return Diagnosis("no_code", f"the answer contained no complete Python file ({note})",
                     ("answer with the whole file in one ```python block",))


# -- errors ------------------------------------------------------------------------------------

def _error_diagnosis(verdict: Verdict, source: str) -> Diagnosis:
    error = verdict.error
    assert error is not None
    where = f"{error.file or 'candidate'}:{error.line}" if error.line else (error.file or "")
    shown = error.excerpt or excerpt(source, error.line, EXCERPT_CONTEXT)
    if verdict.stage == "sandbox":
        return Diagnosis("crash", f"the candidate's process ended without a verdict "
                         f"({error.kind}): {_first_line(error.message)}",
                         tuple(x for x in (_crash_hint(error.kind), shown[-800:]) if x))
    if error.kind in {"load_error", "backend_not_allowed"} or verdict.stage == "load_candidate":
        kind, what = "compile_error", "the file does not load"
    elif error.kind == "output_mismatch":
        return Diagnosis("wrong_output", f"the outputs have the wrong structure: {error.message}",
                         ("return exactly what Model.forward returns: same number of tensors, "
                          "shapes and dtypes",))
    else:
        kind, what = "runtime_error", f"it raised while running ({error.kind})"
    headline = f"{what} at {where}: {_first_line(error.message)}" if where else (
        f"{what}: {_first_line(error.message)}")
    notes = _Notes()
    notes.add(shown)
    notes.add(_runtime_hint(error.message))
    return Diagnosis(kind, headline, tuple(notes.lines))


def _first_line(message: str) -> str:
    """The message's first line without the "candidate path:line:" prefix the headline has."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return LOCATION_PREFIX.sub("", lines[0])[:300] if lines else ""


def _crash_hint(kind: str) -> str:
    return {
        "timeout": "it ran past the time limit: an endless loop, a deadlock, or far too much work",
        "crashed": "the process died (a segfault or abort): out-of-bounds pointers or a bad "
                   "launch",
        "out_of_memory": "it ran out of memory: allocations grow with the input or leak",
        "cuda_error": "a CUDA fault: out-of-bounds accesses, usually a missing mask",
    }.get(kind, "")


def _runtime_hint(message: str) -> str:
    text = message.lower()
    if "out of bound" in text or "illegal memory access" in text:
        return "an access outside the tensor: check masks and index bounds"
    if "shape" in text and ("mismatch" in text or "incompatible" in text):
        return "shapes disagree inside the kernel: check block shapes and broadcasting"
    if "constexpr" in text:
        return "a value used as a compile-time constant is not declared tl.constexpr"
    return ""


# -- wrong outputs -----------------------------------------------------------------------------

def _output_diagnosis(verdict: Verdict, failing: list[Trial]) -> Diagnosis:
    first = failing[0]
    count = (f"{first.mismatched} of {first.elements} elements outside tolerance in "
             f"{len(failing)} of {len(verdict.trials)} trials")
    nonfinite = max(t.nonfinite for t in failing)
    nan_note = (f"{nonfinite} NaN/Inf values where the reference is finite: output elements "
                "never written (torch.empty), a division by zero, or an overflow (e.g. exp "
                "without subtracting the maximum)") if nonfinite else ""
    pattern, partial = _region_pattern(first)
    # Where a bug is (a partial region) says most, NaN next, "everything is wrong" least.
    order = ([_constant_relation(failing), pattern, nan_note] if partial
             else [_constant_relation(failing), nan_note, pattern])
    findings = [f for f in order if f] or [
        f for f in [_precision_note(first, verdict.tolerance)] if f]
    details = (f"{count}; max abs err {first.max_abs_error:.3g}, max rel err "
               f"{first.max_rel_error:.3g}; worst at output {first.worst_output} index "
               f"{first.worst_index}: got {first.candidate_value}, expected "
               f"{first.reference_value}; first wrong at index {first.first_bad_index}")
    headline = "wrong output: " + (findings[0] if findings else count)
    kind = "nonfinite" if findings and findings[0] == nan_note else "wrong_output"
    return Diagnosis(kind, headline, (details, *findings[1:]))


def _region_pattern(trial: Trial) -> tuple[str, bool]:
    """Where the wrong elements are, in words, with what that usually means; and whether they
    are confined to part of the output."""
    region, shape = trial.bad_region, trial.bad_output_shape
    if not region or not shape or len(region) != len(shape):
        return "", False
    return _region_words(region, shape, trial.mismatched)


def _region_words(region: list[list[int]], shape: list[int], mismatched: int
                  ) -> tuple[str, bool]:
    total = math.prod(shape)
    partial = [d for d, ((lo, hi), n) in enumerate(zip(region, shape, strict=True))
               if not (lo == 0 and hi == n - 1)]
    wrong = min(mismatched, total)
    if not partial:
        if wrong >= MOSTLY * total:
            return (f"{'every' if wrong == total else 'almost every'} element of the "
                    f"{_shape(shape)} output is wrong"), False
        return (f"{wrong} of {total} elements wrong, spread over the whole {_shape(shape)} "
                "output: a race, missing synchronisation, or a reduction that mixes rows"), False
    if len(partial) > 1:
        spans = ", ".join(f"{_dim_name(d, len(shape))}s {region[d][0]}..{region[d][1]}"
                          for d in partial)
        return f"the wrong elements lie within {spans} of the {_shape(shape)} output", True
    return _one_dimension(region, shape, partial[0], wrong), True


def _one_dimension(region: list[list[int]], shape: list[int], d: int, wrong: int) -> str:
    total = math.prod(shape)
    lo, hi = region[d]
    n, name = shape[d], _dim_name(d, len(shape))
    box = total // n * (hi - lo + 1)
    scattered = (f" (only {wrong} of the {box} elements there are wrong)"
                 if wrong < box / 2 else "")
    if lo == hi == n - 1:
        return (f"only the last {name} ({n - 1} of 0..{n - 1}) is wrong{scattered}: an off-by-one "
                "in a bound or mask (e.g. `< n - 1` instead of `< n`), or a grid that misses the "
                "final block")
    if hi == n - 1:
        return (f"correct up to {name} {lo}, wrong from {name} {lo} to the end ({n - 1}) of the "
                f"{_shape(shape)} output{scattered}: masking or bounds"
                + (f"; {lo} is a multiple of {_block_of(lo)}, so the first blocks are right and "
                   "the loop or grid stops early" if _block_of(lo) else ""))
    if lo == 0:
        return (f"wrong in {name}s 0..{hi}, correct after it{scattered}: the first block's "
                "offset or its initialisation")
    return f"wrong only in {name}s {lo}..{hi} of {n}{scattered}: one block's offsets or mask"


def _dim_name(dim: int, ndim: int) -> str:
    if ndim == 1:
        return "index"
    if ndim == 2:
        return ("row", "column")[dim]
    return "column" if dim == ndim - 1 else f"index of dimension {dim}"


def _shape(shape: Sequence[int]) -> str:
    return "x".join(str(n) for n in shape)


def _block_of(n: int) -> int | None:
    for block in (1024, 512, 256, 128, 64, 32, 16):
        if n and n % block == 0:
            return block
    return None


def _constant_relation(failing: list[Trial]) -> str:
    """A constant factor or offset at the worst element, the same in every failing trial."""
    pairs = [(t.candidate_value, t.reference_value) for t in failing
             if t.candidate_value is not None and t.reference_value is not None
             and math.isfinite(t.candidate_value) and math.isfinite(t.reference_value)
             and t.mismatched >= MOSTLY * t.elements]
    if len(pairs) < 2 or len(pairs) < len(failing):
        return ""
    where = f"(almost) every element is wrong, and in all {len(pairs)} failing trials the output is"
    ratios = [c / r for c, r in pairs if r != 0]
    if len(ratios) == len(pairs) and _agree(ratios) and abs(ratios[0] - 1) > 1e-3:
        factor = sum(ratios) / len(ratios)
        if abs(factor + 1) < 1e-2:
            return f"{where} the reference with its sign flipped: a negated term"
        return (f"{where} the reference times {factor:.4g}: a constant factor — a missing or "
                "doubled scale, or a wrong normalisation")
    offsets = [c - r for c, r in pairs]
    if _agree(offsets) and abs(offsets[0]) > 0:
        offset = sum(offsets) / len(offsets)
        return (f"{where} the reference plus {offset:.4g}: a constant offset (a bias added twice "
                "or missed)")
    return ""


def _agree(values: list[float]) -> bool:
    scale = max(abs(v) for v in values) or 1.0
    return max(values) - min(values) <= 1e-2 * scale


def _precision_note(trial: Trial, tolerance: dict[str, float]) -> str:
    rtol = tolerance.get("rtol")
    if rtol and trial.max_rel_error < 10 * rtol:
        return (f"the errors are small (max rel err {trial.max_rel_error:.3g} against rtol "
                f"{rtol:g}): a precision problem — accumulate in float32 and round once at the "
                "end")
    return ""


# -- correct kernels ---------------------------------------------------------------------------

def _speed_diagnosis(verdict: Verdict, target: float | None) -> Diagnosis:
    review = [f"{f.name}: {f.reason} ({WHY_DISALLOWED.get(f.name, 'to be reviewed')})"
              for f in verdict.flags if f.severity == "review"]
    timing = verdict.timing
    if timing is None:
        why = verdict.not_measured.get("timing", "no timing in the verdict")
        return Diagnosis("correct", "correct on every trial; speed not measured: " + why,
                         tuple(review))
    notes = _Notes()
    eager, compiled = timing.speedup_eager, timing.speedup_compiled
    notes.add(f"candidate {timing.candidate.median_ms:.4g} ms (IQR "
              f"{timing.candidate.iqr_ms:.2g} ms, {timing.candidate.n} runs)")
    if eager is not None and timing.eager:
        notes.add(f"eager PyTorch {timing.eager.median_ms:.4g} ms -> speedup {eager:.2f}x")
    if compiled is not None and timing.compiled:
        notes.add(f"torch.compile {timing.compiled.median_ms:.4g} ms -> speedup {compiled:.2f}x")
    notes.add(_profile_note(verdict.custom_kernels))
    for line in review:
        notes.add(line)
    over_eager = f"{eager:.2f}x over eager" if eager is not None else "speedup over eager unknown"
    if eager is not None and eager < 1:
        headline = f"correct but slower than eager PyTorch ({eager:.2f}x)"
    elif compiled is not None and compiled < 1:
        headline = f"correct but slower than torch.compile ({compiled:.2f}x); {over_eager}"
    elif target is not None and (eager or 0) < target:
        headline = f"correct; {over_eager}, below the target {target:g}x"
    else:
        return Diagnosis("correct", f"correct; {over_eager}", tuple(notes.lines))
    return Diagnosis("slow", headline, tuple(notes.lines))


def _profile_note(info: dict[str, Any]) -> str:
    share, kernels = info.get("custom_share"), info.get("kernels") or {}
    if share is None or not kernels:
        return ""
    top = ", ".join(f"{name} {us:.1f} us" for name, us in list(kernels.items())[:3])
    return (f"the candidate's own kernels carry {share:.0%} of the GPU time; busiest kernels: "
            f"{top}")


# -- the next prompt ---------------------------------------------------------------------------

def history_text(entries: Sequence[dict[str, Any]], branch: int | None = None) -> str:
    """A short history, one line per attempt: this branch's last few, then the latest of the
    others, up to HISTORY_ENTRIES lines in round order."""
    own = [e for e in entries if e["branch"] == branch][-OWN_ENTRIES:]
    room = HISTORY_ENTRIES - len(own)
    others = [e for e in entries if e["branch"] != branch][-room:] if room > 0 else []
    shown = sorted([*own, *others], key=lambda e: (e["round"], e["branch"]))
    if not shown:
        return "(nothing yet)"
    lines = (f"- round {e['round']}, branch {e['branch']} ({e['idea']}): {e['outcome']}"
             for e in shown)
    return "\n".join(line if len(line) <= HISTORY_LINE_CHARS
                     else line[:HISTORY_LINE_CHARS - 4] + " ..." for line in lines)


def _best_section(best: BestCode | None, store: FeedbackStore | None) -> str:
    if best is None:
        return ""
    return BEST_SECTION.format(round=best.round, outcome=best.outcome,
                               code=clip(best.code, CODE_CHARS, "best-code", store))


def write_advice(model: BaseChatModel | None, *, idea: str, round: int, code: str,
                 verdict_text: str, diagnosis: Diagnosis, best: BestCode | None,
                 history: Sequence[dict[str, Any]], branch: int | None = None,
                 feedback: FeedbackStore | None = None) -> Advice:
    """Ask the critic model for instructions; fall back to the diagnosis when it fails. The
    advice comes back whole: `refined_prompt` caps it where it is fed to the next attempt."""
    if model is None:
        return Advice(_fallback_advice(diagnosis))
    prompt = CRITIC_PROMPT.format(
        idea=idea, round=round, code=clip(code, CODE_CHARS, "code", feedback),
        verdict=clip(verdict_text, VERDICT_CHARS, "verdict", feedback),
        diagnosis=clip(diagnosis.text(), DIAGNOSIS_CHARS, "diagnosis", feedback),
        best_section=_best_section(best, feedback), history=history_text(history, branch))
    started = time.perf_counter()
    try:
        message = model.invoke([SystemMessage(CRITIC_SYSTEM), HumanMessage(prompt)])
    except Exception as exc:  # an unreachable critic must not stop the search
        return Advice(_fallback_advice(diagnosis), error=f"{type(exc).__name__}: {exc}",
                      seconds=time.perf_counter() - started)
    seconds = time.perf_counter() - started
    answer = split_reasoning(message).answer.strip() if isinstance(message, AIMessage) else ""
    if not answer:
        return Advice(_fallback_advice(diagnosis), message=message,
                      error="the critic model gave no advice", seconds=seconds)
    return Advice(answer, message=message, seconds=seconds)


def _fallback_advice(diagnosis: Diagnosis) -> str:
    return {
        "compile_error": "Fix the error at the line shown first; keep what already works.",
        "runtime_error": "Fix the failing line shown; check pointer offsets, masks and shapes.",
        "crash": "Find the out-of-bounds access or endless loop; bound every index by a mask.",
        "wrong_output": "Find the cause of the error pattern above and fix exactly that.",
        "nonfinite": "Make sure every output element is written and no division or exp "
                     "overflows.",
        "integrity": "Compute the result in your own kernels into fresh memory, every call.",
        "no_code": "Answer with the complete file in one ```python block.",
        "slow": "Keep the kernel correct and make it faster: fewer memory passes, better block "
                "sizes, fused work.",
        "correct": "Keep the kernel correct; try a faster variant of the same idea.",
    }.get(diagnosis.kind, "Address the diagnosis above.")


def refined_prompt(*, problem_text: str, problem_path: str, request: str, idea: str,
                   round: int, previous_code: str, diagnosis: Diagnosis, advice: str,
                   best: BestCode | None, history: Sequence[dict[str, Any]],
                   branch: int | None = None, feedback: FeedbackStore | None = None) -> str:
    """The next round's prompt: the problem, the last attempt, the evidence, the advice, each
    within its cap (cut texts kept whole in `feedback`)."""
    return REFINED_PROMPT.format(
        problem_path=problem_path, problem_text=problem_text,
        request_line=REQUEST_LINE.format(request=request) if request else "", idea=idea,
        round=round,
        previous_code=clip(previous_code, CODE_CHARS, "code", feedback) or "# (no code)",
        evidence=clip(diagnosis.text(), DIAGNOSIS_CHARS, "diagnosis", feedback),
        advice=clip(advice, ADVICE_CHARS, "advice", feedback),
        best_section=_best_section(best, feedback), history=history_text(history, branch))
