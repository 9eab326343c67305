"""The verifier on a real GPU: timing, baselines, and the integrity flags that need a device."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kernel_agent.sandbox import Sandbox
from kernel_agent.tools.check import BaselineCache, check_files

from ..conftest import DATA, EXAMPLES

pytestmark = pytest.mark.gpu
GPU = DATA / "gpu"
CANDIDATES = DATA / "candidates"


def flag_names(verdict) -> set[str]:
    return {f.name for f in verdict.flags}


@pytest.fixture
def check(sandbox: Sandbox):
    """check_files on the package's shared sandbox; the torch.compile baseline only where a test
    reads it (compiling each reference costs seconds and these tests judge against eager)."""
    return lambda *args, **kwargs: check_files(
        *args, sandbox=sandbox, **{"compile_baseline": False, **kwargs})


def test_correct_kernel_is_timed_against_both_baselines_and_baselines_are_cached(check):
    first = check(GPU / "big_scale_add_problem.py", DATA / "scale_add_correct.py",
                  compile_baseline=True)
    assert first.status == "pass", first.summary()
    timing = first.timing
    assert timing is not None and timing.candidate.n >= 10
    assert timing.candidate.median_ms > 0
    assert timing.eager and timing.compiled, timing.compile_error
    expected = timing.eager.median_ms / timing.candidate.median_ms
    assert timing.speedup_eager == pytest.approx(expected)
    assert not timing.baseline_cached and timing.baseline_seconds > 0
    assert first.custom_kernels["custom_share"] > 0.9
    assert not flag_names(first), "an honest kernel's timed outputs are right"
    assert first.audit["passed"] and first.audit["in_place"], first.audit  # read through IPC
    second = check(GPU / "big_scale_add_problem.py", DATA / "scale_add_correct.py")
    # The same process verified it: neither the profiler nor the compiled baseline left anything
    # that reads as a candidate's doing.
    assert second.process["job"] == first.process["job"] + 1, second.process
    assert second.phases["imports"] < 0.01
    assert second.timing.baseline_cached
    assert second.timing.eager == timing.eager
    assert BaselineCache().load((GPU / "big_scale_add_problem.py").read_text())


def test_a_failing_first_candidate_still_leaves_the_baselines_for_the_next(check, tmp_path):
    """The baseline's compile starts beside the first candidate's process; when that candidate
    fails, the baselines are timed anyway and kept, so no later verdict compiles them again."""
    problem = tmp_path / "problem.py"
    problem.write_text((GPU / "big_scale_add_problem.py").read_text() + "\n# its own problem\n")
    failed = check(problem, DATA / "scale_add_off_by_one.py", compile_baseline=True)
    assert failed.status == "fail" and failed.timing is None, failed.summary()
    kept = BaselineCache().load(problem.read_text())
    entry = next(value for key, value in kept.items() if "|torch" in key)
    assert entry["eager"]["median_ms"] > 0 and entry["compiled"]["median_ms"] > 0, entry
    passed = check(problem, DATA / "scale_add_correct.py", compile_baseline=True)
    assert passed.status == "pass", passed.summary()
    assert passed.timing.baseline_cached and passed.phases.get("baselines", 0.0) == 0.0
    assert passed.timing.compiled.median_ms == entry["compiled"]["median_ms"]


def test_no_op_returning_freed_memory_is_caught_as_stale(check):
    verdict = check(GPU / "big_scale_add_problem.py", CANDIDATES / "returns_empty.py")
    assert verdict.status == "fail"
    assert "stale_memory" in flag_names(verdict), verdict.summary()
    assert verdict.trials[0].nonfinite > 0, "poisoned memory reads back as NaN"


def test_a_candidate_copying_the_answer_from_memory_fails_on_unseen_inputs(check):
    verdict = check(GPU / "big_scale_add_problem.py", CANDIDATES / "reads_answer.py")
    assert [t.passed for t in verdict.trials][-1] is False, verdict.summary()
    assert "wrong_on_unseen_inputs" in flag_names(verdict), verdict.summary()


@pytest.mark.parametrize("candidate", ["counts_calls.py", "switches_on_time.py"])
def test_candidate_that_skips_work_while_timed_fails_on_its_timed_outputs(candidate, check):
    verdict = check(GPU / "big_scale_add_problem.py", CANDIDATES / candidate)
    assert all(t.passed for t in verdict.trials), "right while its outputs are checked"
    assert verdict.status == "fail", verdict.summary()
    flag = next(f for f in verdict.flags if f.name == "timed_output_wrong")
    assert flag.severity == "reject" and "input set" in flag.reason, flag.reason


def test_work_on_a_side_stream_is_flagged(check):
    verdict = check(GPU / "big_scale_add_problem.py", GPU / "side_stream.py")
    assert "work_off_timed_stream" in flag_names(verdict), verdict.summary()
    assert verdict.status == "fail"


def test_library_doing_the_work_is_flagged(check):
    verdict = check(GPU / "library_heavy_problem.py", GPU / "library_heavy.py",
                          atol=0.05, rtol=0.05)
    assert "custom_kernels_minor" in flag_names(verdict), verdict.summary()
    assert verdict.custom_kernels["custom_share"] < 0.5


def test_torch_only_candidate_is_flagged_on_gpu(check):
    verdict = check(DATA / "scale_add_problem.py", CANDIDATES / "no_kernel.py")
    assert "no_custom_kernel" in flag_names(verdict), verdict.summary()


def test_large_speedup_is_flagged_for_review_not_rejected(check):
    verdict = check(GPU / "slow_reference_problem.py", GPU / "fused_add.py")
    assert verdict.status == "pass", verdict.summary()
    flag = next(f for f in verdict.flags if f.name == "suspicious_speedup")
    assert flag.severity == "review"
    assert verdict.timing.speedup_eager > 10


def test_illegal_memory_access_is_a_cuda_error_and_the_next_candidate_passes(check):
    bad = check(DATA / "scale_add_problem.py", GPU / "illegal_access.py")
    assert bad.status == "fail" and bad.error is not None
    assert bad.error.kind == "cuda_error", bad.summary()
    good = check(DATA / "scale_add_problem.py", DATA / "scale_add_correct.py")
    assert good.status == "pass"


def test_caching_and_input_changes_are_caught_on_gpu(check):
    assert "output_ignores_inputs" in flag_names(
        check(DATA / "scale_add_problem.py", CANDIDATES / "caches_output.py"))
    assert "inputs_modified" in flag_names(
        check(DATA / "scale_add_problem.py", CANDIDATES / "modifies_input.py"))


def test_writing_into_inputs_only_while_timed_is_rejected(check):
    """The candidate is timed on the tensors of its own process's timing sets; their change is
    caught before the reference runs on them."""
    verdict = check(GPU / "big_scale_add_problem.py", CANDIDATES / "scribbles_while_timed.py")
    assert all(t.passed for t in verdict.trials), "left its inputs alone while checked"
    assert verdict.status == "fail", verdict.summary()
    assert "inputs_modified" in flag_names(verdict), verdict.summary()


def test_a_candidate_speaking_for_the_verifier_fails_the_judges_audit(check):
    verdict = check(GPU / "big_scale_add_problem.py", CANDIDATES / "forges_claim.py")
    assert verdict.status == "fail" and "audit_failed" in flag_names(verdict), verdict.summary()
    assert verdict.timing is None


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.iterdir()
                                           if (p / "problem.py").exists()))
def test_example_kernels_pass_at_full_size(example, check):
    # Two trials: each runs the eager reference at full size (an (S, S) float32 score matrix
    # per head for attention), and the audit and the timed calls' checks add more inputs.
    verdict = check(EXAMPLES / example / "problem.py", EXAMPLES / example / "kernel.py",
                    trials=2)
    assert verdict.status == "pass", verdict.summary()
    assert verdict.timing and verdict.timing.speedup_eager > 1, verdict.summary()
    assert "timed_output_wrong" not in flag_names(verdict)


def test_the_kernel_profiler_counts_launches_without_importing_dynamo() -> None:
    """integrity.cuda_kernel_events, run in a fresh interpreter as a one-shot check's task is:
    it sees every launch, and Dynamo (0.7 s to import) stays out."""
    script = ("import sys, torch\n"
              "from kernel_agent.tools.integrity import cuda_kernel_events\n"
              "x = torch.ones(1 << 20, device='cuda')\n"
              "events = cuda_kernel_events(lambda: x.add_(1), 3)\n"
              "print(len(events), sum(t > 0 for _, t in events), 'torch._dynamo' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["3", "3", "False"], done.stdout
