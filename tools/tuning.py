"""Tune a correct Triton candidate's launch parameters by verifying rewritten variants.

Every variant goes through the full verifier (tools/check.py), so a variant can only win if it
is correct and honest; a variant that fails is listed with the reason. On a GPU the variants run
one after another (timings of kernels sharing a GPU would be worthless), in two stages within
`max_variants`: the planned variants (tools/tune_variants.py) with a quarter of the budget held
back, then combinations of the moves that were faster than the original (tools/tune_combine.py),
then more planned variants with whatever the combinations left (all of it when nothing was
timed). The fastest passing variant by median time, if it is faster than the original at all,
is the finalist. Timings taken
minutes apart differ by more than a good variant gains, so the finalist and the original are
then re-timed interleaved in one process (tools/tune_compare.py): the finalist replaces the
original only if it was faster in so many of the rounds that chance would rarely give that,
and by at least 1% (tools/tune_compare.py states the rule). The re-timing checks both kernels'
outputs again; one that is wrong there is marked failed and the original is kept. Without a GPU
nothing is timed: the variants are checked for correctness, in parallel, and the original is
kept.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kernel_agent.sandbox import Limits, Sandbox, get_sandbox
from kernel_agent.tools.check import BaselineCache, read_source, verify_sources
from kernel_agent.tools.tune_combine import combine
from kernel_agent.tools.tune_compare import ORIGINAL, VARIANT, Comparison, compare_interleaved
from kernel_agent.tools.tune_space import Space, find_space
from kernel_agent.tools.tune_variants import DEFAULT_MAX_VARIANTS, Variant, plan_variants
from kernel_agent.tools.verdict import Verdict

REASON_CHARS = 300
SECOND_STAGE_SHARE = 4  # 1/4 of the budget waits for combinations of the faster moves


@dataclass
class VariantResult:
    """One row of the tuning table; number 0 is the original."""

    number: int
    changes: dict[str, list[str]]
    status: str  # pass, fail, bad_input, skipped (not verified), or not_run
    median_ms: float | None = None
    iqr_ms: float | None = None
    reason: str = ""
    text: str = field(default="", repr=False)
    verdict: Verdict | None = field(default=None, repr=False)

    def describe(self) -> str:
        if self.number == 0:
            return "original"
        return ", ".join(f"{name} {was} -> {now}" for name, (was, now) in self.changes.items())

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "changes": self.changes, "status": self.status,
                "median_ms": self.median_ms, "iqr_ms": self.iqr_ms, "reason": self.reason}


@dataclass
class TuneResult:
    """What tuning found: the sources, every variant's row, and why the best one was chosen."""

    original: str
    best: str
    improved: bool
    chosen: int  # the number of the chosen row (0: the original)
    device: str | None  # the verdict's device type (cuda, cpu); None when nothing ran
    reason: str
    parameters: list[dict[str, Any]]
    notes: list[str]
    variants: list[VariantResult]
    finalist: int | None = None  # the variant re-timed against the original, if any
    comparison: Comparison | None = None  # that re-timing and its decision

    @property
    def best_row(self) -> VariantResult:
        return next(row for row in self.variants if row.number == self.chosen)

    def to_dict(self) -> dict[str, Any]:
        return {"improved": self.improved, "chosen": self.chosen, "device": self.device,
                "reason": self.reason, "parameters": self.parameters, "notes": self.notes,
                "variants": [row.to_dict() for row in self.variants],
                "finalist": self.finalist,
                "comparison": self.comparison.to_dict() if self.comparison else None,
                "original": self.original, "best": self.best}


Progress = Callable[[VariantResult], None]
Compare = Callable[[dict[str, Any], dict[str, Any]], Comparison]


def tune_files(problem_path: str | Path, candidate_path: str | Path,
               **kwargs: Any) -> TuneResult:
    """`kernel-agent tune`: tune a candidate file against a problem file."""
    return tune_sources(read_source(problem_path, "problem"),
                        read_source(candidate_path, "candidate"), **kwargs)


def tune_sources(problem: dict[str, str], candidate: dict[str, str], *,
                 sandbox: Sandbox | None = None, limits: Limits | None = None,
                 max_variants: int = DEFAULT_MAX_VARIANTS, workers: int = 1,
                 baselines: BaselineCache | None = None, progress: Progress | None = None,
                 **options: Any) -> TuneResult:
    """Verify the candidate and its variants; keep the fastest correct one (GPU only).

    `workers` bounds the variants verified at once without a GPU (give the sandbox as many
    workers); `options` go to the verifier like `check`'s (trials, atol, ...).
    Raises TuneSpaceError for a candidate that does not parse, ValueError for max_variants < 1.
    """
    space = find_space(candidate["text"], candidate["path"])
    tuning = _Tuning(space, max_variants, candidate, workers, progress)
    if not space.parameters:  # nothing to verify, so no sandbox is started
        return tuning.nothing_to_tune()
    own_sandbox = sandbox is None
    sandbox = sandbox or get_sandbox("local", cpu_workers=max(1, workers))
    baselines = baselines if baselines is not None else BaselineCache()

    def verify(text: str, path: str) -> Verdict:
        return verify_sources(problem, {"text": text, "path": path}, sandbox=sandbox,
                              limits=limits, baselines=baselines, **options)

    def compare(original: dict[str, Any], variant: dict[str, Any]) -> Comparison:
        return compare_interleaved(problem, original, variant, sandbox=sandbox, limits=limits)

    try:
        return tuning.run(verify, compare)
    finally:
        if own_sandbox:
            sandbox.close()


class _Tuning:
    """One tuning run: the original first, then the variants, then the choice."""

    def __init__(self, space: Space, max_variants: int, candidate: dict[str, str],
                 workers: int, progress: Progress | None) -> None:
        self.space, self.candidate, self.max_variants = space, candidate, max_variants
        self.variants = plan_variants(space, max_variants)
        self.workers, self.progress = max(1, workers), progress
        self.verify: Callable[[str, str], Verdict] | None = None  # given to run()

    def nothing_to_tune(self) -> TuneResult:
        original = VariantResult(0, {}, "not_run", reason="nothing to tune",
                                 text=self.candidate["text"])
        return self.result([original], 0, None, "no tunable launch parameters found "
                           "(block sizes, num_warps, num_stages, switches such as "
                           "WARP_SPECIALIZE, autotune configs)")

    def run(self, verify: Callable[[str, str], Verdict], compare: Compare) -> TuneResult:
        self.verify = verify
        original = self.row(0, {}, self.candidate["text"])
        device = original.verdict.device.get("type") if original.verdict else None
        if original.status != "pass":
            rows = [original, *(self.unverified(v, "not run: the original does not pass")
                                for v in self.variants)]
            return self.result(rows, 0, device, f"the original does not pass verification "
                               f"({original.reason}); tuning needs a correct kernel")
        rows = [original, *self.sweep(original, device)]
        number, reason = finalist(rows, device)
        if number is None:
            return self.result(rows, 0, device, reason)
        row = next(r for r in rows if r.number == number)
        comparison = compare(self.contender(original), self.contender(row))
        for key, retimed in ((ORIGINAL, original), (VARIANT, row)):
            if key in comparison.failed:  # it passed verification, then was wrong while re-timed
                retimed.status = "fail"
                retimed.reason = f"while re-timed: {comparison.failed[key]}"[:REASON_CHARS]
        reason = f"{reason}; {comparison.reason}"
        if comparison.faster and comparison.speedup:
            reason += f": {comparison.speedup:.2f}x faster"
        return self.result(rows, number if comparison.faster else 0, device, reason, number,
                           comparison)

    def sweep(self, original: VariantResult, device: str | None) -> list[VariantResult]:
        """The planned variants, the faster moves combined, then more planned variants: at most
        `max_variants` verified in all (see the module docstring)."""
        timed = device == "cuda" and original.median_ms is not None
        reserve = self.max_variants // SECOND_STAGE_SHARE if timed else 0
        first, rest = split(self.variants, self.max_variants - reserve)
        rows = self.verify_variants(first, device)
        speedups = [(variant, original.median_ms / row.median_ms)
                    for variant, row in zip(first, rows, strict=True)
                    if row.status == "pass" and original.median_ms and row.median_ms]
        known = {self.candidate["text"], *(v.text for v in first)}
        combined = combine(self.space, speedups, known, reserve, len(first) + 1)
        rows += self.verify_variants(combined, device)
        made = {v.text for v in combined}
        more, _ = split([v for v in rest if v.text not in made], reserve - len(combined))
        numbered = [replace(v, number=len(first) + len(combined) + n)
                    for n, v in enumerate(more, start=1)]
        return rows + self.verify_variants(numbered, device)

    def verify_variants(self, variants: list[Variant],
                        device: str | None) -> list[VariantResult]:
        to_run = [v for v in variants if v.skipped is None]
        done: dict[int, VariantResult] = {}
        workers = 1 if device == "cuda" else self.workers  # timings must not overlap
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for row in pool.map(lambda v: self.row(v.number, v.changes, v.text), to_run):
                done[row.number] = row
        skipped = {v.number: self.unverified(v, f"skipped: {v.skipped}")
                   for v in variants if v.skipped is not None}
        return [done.get(v.number) or skipped[v.number] for v in variants]

    def row(self, number: int, changes: dict[str, list[str]], text: str) -> VariantResult:
        assert self.verify is not None
        verdict = self.verify(text, str(Path(self.candidate["path"]).with_name(
            self.file_name(number))))
        stats = verdict.timing.candidate if verdict.timing else None
        row = VariantResult(number, changes, verdict.status,
                            stats.median_ms if stats else None, stats.iqr_ms if stats else None,
                            "" if verdict.passed else failure_reason(verdict), text, verdict)
        if self.progress is not None:
            self.progress(row)
        return row

    def contender(self, row: VariantResult) -> dict[str, Any]:
        """A row as the re-timing takes it, with the tolerance it was verified with."""
        return {"text": row.text, "path": self.file_name(row.number),
                "tolerance": row.verdict.tolerance if row.verdict else {}}

    def file_name(self, number: int) -> str:
        """The candidate's file name, or for variant N `<stem>.variantN<suffix>`."""
        path = Path(self.candidate["path"])
        return path.name if number == 0 else f"{path.stem}.variant{number}{path.suffix}"

    def unverified(self, variant: Variant, reason: str) -> VariantResult:
        status = "skipped" if variant.skipped else "not_run"
        return VariantResult(variant.number, variant.changes, status, reason=reason,
                             text=variant.text)

    def result(self, rows: list[VariantResult], chosen: int, device: str | None,
               reason: str, finalist: int | None = None,
               comparison: Comparison | None = None) -> TuneResult:
        parameters = [{"name": p.name, "kind": p.kind, "current": p.current, "line": p.site.line,
                       "choices": [c.label for c in p.choices]} for p in self.space.parameters]
        best = next(row for row in rows if row.number == chosen)
        return TuneResult(self.candidate["text"], best.text, chosen != 0, chosen, device,
                          reason, parameters, self.space.notes, rows, finalist, comparison)


def split(variants: list[Variant], kept: int) -> tuple[list[Variant], list[Variant]]:
    """The variants up to the `kept`-th one to verify (skipped ones met on the way included),
    and the rest."""
    if kept <= 0:
        return [], variants
    count = 0
    for position, variant in enumerate(variants):
        if variant.skipped is None:
            if count == kept:
                return variants[:position], variants[position:]
            count += 1
    return variants, []


def finalist(rows: list[VariantResult], device: str | None) -> tuple[int | None, str]:
    """The variant to re-time against the original (rows[0]), and what the sweep found: the
    fastest passing variant by its median, if that is below the original's; else None."""
    verified = [r for r in rows[1:] if r.status not in ("skipped", "not_run")]
    passed = [r for r in verified if r.status == "pass"]
    counts = f"{len(passed)} of {len(verified)} variants verified passed"
    original = rows[0]
    if original.median_ms is None:
        verdict = original.verdict
        why = (verdict.not_measured.get("timing") if verdict else None) or "no timing"
        lead = "the original was not timed" if device == "cuda" else "timing needs a GPU"
        return None, (f"{lead} ({why}); {counts}, checked for correctness only; "
                      "the original is kept")
    timed = [r for r in passed if r.median_ms is not None]
    if not timed:
        return None, f"{counts}; none was timed, the original is kept"
    best = min(timed, key=lambda r: r.median_ms or 0.0)
    assert best.median_ms is not None
    summary = (f"{counts}; in the sweep variant {best.number} ({best.describe()}) took "
               f"{best.median_ms:.4g} ms, the original {original.median_ms:.4g} ms")
    if best.median_ms >= original.median_ms:
        return None, f"{summary}: no variant was faster, the original is kept"
    return best.number, summary


def failure_reason(verdict: Verdict) -> str:
    """One line on why a variant did not pass."""
    if verdict.error is not None:
        message = (verdict.error.message.strip().splitlines() or [""])[0]
        text = f"{verdict.stage}: {verdict.error.kind}: {message}"
    elif failing := [t for t in verdict.trials if not t.passed]:
        trial = failing[0]
        text = (f"wrong results in {len(failing)}/{len(verdict.trials)} trials: "
                f"{trial.mismatched}/{trial.elements} elements outside tolerance, max abs err "
                f"{trial.max_abs_error:.3g}")
    elif flags := verdict.rejecting_flags:
        text = "; ".join(f"integrity flag {f.name}: {f.reason}" for f in flags)
    else:
        text = f"{verdict.status} at stage {verdict.stage}"
    return text[:REASON_CHARS]
