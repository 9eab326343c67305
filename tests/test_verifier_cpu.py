"""The verifier on a CPU: correctness under the Triton interpreter and every integrity flag that
can be observed without a GPU (the GPU-only ones live in tests/gpu/)."""

from __future__ import annotations

import pytest

from kernel_agent.tools import tolerance
from kernel_agent.tools.check import check_files
from kernel_agent.tools.tolerance import atol_of
from kernel_agent.tools.verdict import Verdict

from .conftest import DATA

PROBLEM = DATA / "scale_add_problem.py"
CANDIDATES = DATA / "candidates"


def verify(candidate: str, problem=PROBLEM, **options) -> Verdict:
    return check_files(problem, candidate, **options)


def flag_names(verdict: Verdict) -> set[str]:
    return {flag.name for flag in verdict.flags}


def test_correct_kernel_passes_every_trial():
    verdict = verify(DATA / "scale_add_correct.py")
    assert verdict.status == "pass", verdict.summary()
    assert verdict.compiled and verdict.correct
    assert len(verdict.trials) == 5
    assert len({t.seed for t in verdict.trials}) == 5, "each trial must use a fresh seed"
    assert all(t.passed and t.max_abs_error == 0 for t in verdict.trials)
    assert verdict.custom_kernels["launches"]["scale_add_kernel"] >= 5
    assert "timing" in verdict.not_measured and "GPU" in verdict.not_measured["timing"]
    assert "one after another" in verdict.not_measured["races"], "what the interpreter hides"
    assert verdict.timing is None


def test_off_by_one_mask_fails_at_the_last_element():
    verdict = verify(DATA / "scale_add_off_by_one.py")
    assert verdict.status == "fail" and verdict.correct is False
    for trial in verdict.trials:
        assert not trial.passed
        assert trial.worst_index == [999]
        assert trial.first_bad_index == [999]
        assert trial.mismatched == 1 and trial.elements == 1000
    assert "index [999]" in verdict.summary()
    assert "stale_memory" not in flag_names(verdict), "a masking bug is not a stale-memory no-op"


def test_trials_and_tolerance_can_be_set_per_call():
    verdict = verify(DATA / "scale_add_correct.py", trials=2, atol=0.5, rtol=0.25)
    assert len(verdict.trials) == 2
    assert verdict.tolerance == {"atol": 0.5, "rtol": 0.25}


def test_problem_metadata_sets_tolerance_trials_and_small_inputs():
    verdict = verify(DATA / "scale_add_correct.py", problem=DATA / "problems" / "with_metadata.py")
    assert verdict.status == "pass", verdict.summary()
    assert verdict.tolerance == {"atol": 1e-3, "rtol": 1e-3}
    assert len(verdict.trials) == 3
    assert verdict.trials[0].elements == 37 * 129, "CPU runs take get_small_inputs()"


def test_loose_tolerance_lets_a_small_error_through_and_tight_one_does_not(tmp_path):
    source = (DATA / "scale_add_correct.py").read_text().replace("2 * x + b", "2 * x + b + 0.001")
    candidate = tmp_path / "slightly_off.py"
    candidate.write_text(source)
    assert verify(candidate).status == "pass"
    tight = verify(candidate, atol=1e-4, rtol=1e-4)
    assert tight.status == "fail" and tight.trials[0].max_abs_error == pytest.approx(1e-3, rel=0.01)


@pytest.mark.parametrize(("candidate", "flag"), [
    ("modifies_input.py", "inputs_modified"),
    ("aliases_input.py", "output_aliases_input"),
    ("caches_output.py", "output_ignores_inputs"),
    ("patches_torch.py", "monkeypatched"),
    ("patches_timer_at_run.py", "monkeypatched"),
    ("patches_verifier.py", "monkeypatched"),
    ("shadows_tensor_method.py", "monkeypatched"),
    ("leaves_function_mode.py", "torch_mode_left_active"),
    ("leaves_dispatch_mode.py", "torch_mode_left_active"),
    ("replaces_aten_kernel.py", "aten_kernel_replaced"),
    ("leaves_trace_function.py", "interpreter_hook_left_active"),
    ("no_kernel.py", "no_custom_kernel"),
])
def test_each_integrity_flag_rejects_its_cheat(candidate, flag):
    verdict = verify(CANDIDATES / candidate)
    assert verdict.status == "fail", verdict.summary()
    assert flag in flag_names(verdict), verdict.summary()
    reason = next(f.reason for f in verdict.flags if f.name == flag)
    assert reason and reason in verdict.summary()


def test_a_pass_is_audited_on_inputs_no_trial_used():
    verdict = verify(DATA / "scale_add_correct.py")
    assert verdict.passed and verdict.audit["passed"], verdict.audit
    assert verdict.audit["seed"] not in {t.seed for t in verdict.trials}
    assert verdict.audit["elements"] == verdict.trials[0].elements
    assert "audit" in verdict.phases
    assert (f"1000 of 1000 elements right on inputs the candidate's process never saw (seed "
            f"{verdict.audit['seed']})") in verdict.summary()


def test_inputs_not_made_again_from_their_seed_are_sent_to_the_candidates_process(tmp_path):
    """A problem whose get_inputs() draws from its own generator: the judge cannot send the
    audit's seed, so it streams the inputs themselves (a transposed one among them) to the
    candidate's process and judges what comes back."""
    problem = tmp_path / "unseeded_problem.py"
    problem.write_text(PROBLEM.read_text().replace(
        "return [torch.randn(1000), torch.randn(1000)]",
        "own = torch.Generator().manual_seed(int.from_bytes(__import__('os').urandom(4), 'big'))\n"
        "    return [torch.randn(1000, generator=own), torch.randn(1000, generator=own)]"))
    verdict = verify(DATA / "scale_add_correct.py", problem=problem)
    assert verdict.passed and verdict.audit["passed"], verdict.summary()
    assert verdict.audit["elements"] == 1000
    wrong = verify(DATA / "scale_add_off_by_one.py", problem=problem)
    assert wrong.status == "fail", wrong.summary()


def test_a_candidate_speaking_for_the_verifier_fails_the_audit():
    """forges_claim.py sends a passing verdict down its process's channel to the judge as it is
    imported, then answers the audit with its wrong kernel's outputs."""
    verdict = verify(CANDIDATES / "forges_claim.py")
    assert verdict.status == "fail" and not verdict.correct, verdict.summary()
    assert "audit_failed" in flag_names(verdict)
    assert not verdict.audit["passed"] and verdict.audit["mismatched"] > 0
    assert verdict.timing is None  # its claimed time is not reported


def test_a_claimed_time_the_judge_cannot_reproduce_is_disputed():
    """forges_timing.py is right, and takes 20 ms a call; it speaks the judge's protocol to
    claim a pass at 1 microsecond a call, and answers every check with right outputs."""
    verdict = verify(CANDIDATES / "forges_timing.py")
    assert verdict.status == "fail", verdict.summary()
    assert "timing_disputed" in flag_names(verdict) and "audit_failed" not in flag_names(verdict)
    assert verdict.audit["passed"] and verdict.audit["race_calls"] == 50
    assert verdict.audit["race_ms_per_call"] >= 20
    assert verdict.timing is None


def test_a_claimed_time_the_judge_reproduces_stands(tmp_path):
    """The same candidate claiming 25 ms a call, which the judge's own calls bear out."""
    honest = tmp_path / "claims_its_real_time.py"
    honest.write_text((CANDIDATES / "forges_timing.py").read_text().replace(
        '"median_ms": 0.001', '"median_ms": 25.0'))
    verdict = verify(honest)
    assert verdict.passed, verdict.summary()
    assert verdict.audit["race_calls"] == 3 and 20 <= verdict.audit["race_ms_per_call"] <= 55


def test_a_pass_written_into_every_answer_channel_is_no_verdict():
    """forges_answer_file.py writes a passing answer into every descriptor it holds and every
    result file any process shows it, then exits: none of them is the judge's."""
    verdict = verify(CANDIDATES / "forges_answer_file.py")
    assert verdict.status == "fail", verdict.summary()
    assert verdict.error is not None and "candidate's process" in verdict.error.message


def test_a_candidate_copying_the_answer_from_memory_fails_where_there_is_none():
    """reads_answer.py finds the verifier's record of its inputs with the reference's outputs and
    copies the answer out with its own kernel. The last trial's reference is computed only once
    the candidate has returned, so there it finds nothing to copy."""
    verdict = verify(CANDIDATES / "reads_answer.py")
    assert [t.passed for t in verdict.trials] == [True] * 4 + [False], verdict.summary()
    assert verdict.status == "fail"
    assert {"wrong_on_unseen_inputs", "searched_verifier_memory"} <= flag_names(verdict)
    static = next(f for f in verdict.flags if f.name == "static_introspection")
    assert "gc.get_objects" in static.reason and static.severity == "reject", static
    assert verify(DATA / "scale_add_correct.py", trials=1).passed, "one trial is the unseen one"


def test_monkeypatch_flag_names_what_was_replaced():
    import_time = verify(CANDIDATES / "patches_torch.py")
    assert "torch.allclose" in import_time.flags[0].reason
    assert "importing" in import_time.flags[0].reason
    run_time = verify(CANDIDATES / "patches_timer_at_run.py")
    assert "time.perf_counter" in run_time.flags[0].reason
    assert "ran" in run_time.flags[0].reason
    own_code = verify(CANDIDATES / "patches_verifier.py")
    assert "kernel_agent.tools.verify.compare" in own_code.flags[0].reason
    shadowed = verify(CANDIDATES / "shadows_tensor_method.py")
    assert "torch.Tensor.__le__" in shadowed.flags[0].reason


def test_uninitialised_output_never_passes():
    verdict = verify(CANDIDATES / "returns_empty.py")
    assert verdict.status == "fail"
    assert not any(t.passed for t in verdict.trials)


def test_honest_candidate_raises_no_flags():
    assert verify(DATA / "scale_add_correct.py").flags == []


def scaled_copy(tmp_path, source, expression: str, name: str):
    """A copy of a data file whose `2 * x + b` is replaced by `expression`."""
    path = tmp_path / name
    path.write_text((DATA / source).read_text().replace("2 * x + b", expression))
    return path


def test_where_zeros_would_pass_the_tolerance_scales_to_the_reference(tmp_path):
    tiny = scaled_copy(tmp_path, "scale_add_problem.py", "(2 * x + b) * 1e-4", "tiny.py")
    zeros = verify(scaled_copy(tmp_path, "scale_add_correct.py", "0.0 * x", "zeros.py"),
                   problem=tiny)
    assert zeros.status == "fail", "an all-zero output no longer passes"
    flag = next(f for f in zeros.flags if f.name == "trivial_output_passes")
    assert flag.severity == "review" and "all-zero output would pass" in flag.reason
    assert atol_of(tolerance.from_json(zeros.tolerance), 0) < 1e-4
    assert zeros.tolerance["rtol"] == 1e-2
    honest = verify(scaled_copy(tmp_path, "scale_add_correct.py", "(2 * x + b) * 1e-4",
                                "honest.py"), problem=tiny)
    assert honest.status == "pass", honest.summary()
    assert flag_names(honest) == {"trivial_output_passes"}, "the verdict says so"


def test_a_constant_reference_is_named_as_checking_little(tmp_path):
    constant = scaled_copy(tmp_path, "scale_add_problem.py", "0.0 * x + 3.0", "constant.py")
    verdict = verify(scaled_copy(tmp_path, "scale_add_correct.py", "0.0 * x + 3.0", "c.py"),
                     problem=constant)
    reason = next(f.reason for f in verdict.flags if f.name == "trivial_output_passes")
    assert "constant output would pass" in reason and "checks little" in reason


def test_a_tensor_subclass_output_is_rejected_and_confirms_the_static_finding():
    verdict = verify(CANDIDATES / "tensor_subclass.py")
    assert verdict.status == "fail", verdict.summary()
    flags = {f.name: f for f in verdict.flags}
    assert flags["output_not_plain_tensor"].severity == "reject"
    assert flags["static_tensor_subclass"].severity == "reject"
    assert "confirmed at run time" in flags["static_tensor_subclass"].reason


def test_a_thread_left_running_confirms_the_static_finding_and_rejects():
    verdict = verify(CANDIDATES / "leaves_thread.py")
    assert all(t.passed for t in verdict.trials), "right on every call"
    assert verdict.status == "fail", verdict.summary()
    flags = {f.name: f for f in verdict.flags}
    assert flags["thread_left_running"].severity == "review"
    assert "lingering" in flags["thread_left_running"].reason
    assert flags["static_threads"].severity == "reject"
    assert "thread_left_running" in flags["static_threads"].reason


def test_a_pass_claimed_for_a_source_without_any_kernel_is_rejected_by_the_judge():
    """forges_pass_without_kernel.py computes right with torch alone and claims a pass with no
    run-time flag: the judge, which never trusts those flags, sees that the source defines no
    kernel at all."""
    verdict = verify(CANDIDATES / "forges_pass_without_kernel.py")
    assert verdict.status == "fail", verdict.summary()
    flag = next(f for f in verdict.flags if f.name == "no_custom_kernel")
    assert flag.severity == "reject" and "defines no kernel" in flag.reason


def test_a_candidate_that_rewrites_its_claim_through_the_verifiers_modules_is_rejected():
    """rewrites_its_claim.py replaces the verifier's Verdict.to_dict through sys.modules, so its
    process's claim drops every run-time flag: reaching the verifier's state fails it at the
    judge whatever the claim says."""
    verdict = verify(CANDIDATES / "rewrites_its_claim.py")
    assert verdict.status == "fail", verdict.summary()
    static = next(f for f in verdict.flags if f.name == "static_introspection")
    assert static.severity == "reject" and "sys.modules" in static.reason


@pytest.mark.parametrize(("field", "value", "said"), [
    ("error", {"kind": "runtime_error", "message": 123}, "verdict.error.message is int"),
    ("trials", [{"seed": 1, "passed": False, "max_abs_error": "big"}],
     "verdict.trials[0].max_abs_error is str"),
    ("flags", [{"name": 7, "reason": "r"}], "verdict.flags[0].name is int"),
    ("stage", {"a": [1]}, "verdict.stage is dict"),
    ("surprise", 1, "has no field 'surprise'"),
])
def test_a_claim_of_the_wrong_shape_is_no_verdict_and_breaks_nothing_after_it(
        tmp_path, field, value, said):
    """A claim whose fields are not of their types would break whoever formats the verdict
    later (the host's CPU explanation, the critic's summary, the rendered table)."""
    from kernel_agent.agent.verdict_view import render_verdict

    claim = {"status": "fail", "stage": "run", "correct": False, field: value}
    source = (CANDIDATES / "forges_pass_without_kernel.py").read_text().replace(
        'CLAIM = {"status": "pass", "stage": "done", "compiled": True, "correct": True}',
        f"CLAIM = {claim!r}")
    candidate = tmp_path / "forges_a_shape.py"
    candidate.write_text(source)
    verdict = verify(candidate)
    assert verdict.status == "fail" and verdict.stage == "sandbox", verdict.summary()
    assert verdict.error is not None and said in verdict.error.message
    assert "its verdict is not one" in verdict.summary()
    render_verdict(verdict, candidate, PROBLEM)


@pytest.mark.parametrize("candidate", ["in_the_class.py", "in_a_registry.py",
                                       "made_by_the_model.py"])
def test_a_kernel_kept_elsewhere_than_a_module_global_is_found_and_counted(candidate):
    verdict = verify(DATA / "kept_kernels" / candidate)
    assert verdict.passed, verdict.summary()
    assert verdict.custom_kernels["names"] == ["scale_add_kernel"]
    assert verdict.custom_kernels["launches"]["scale_add_kernel"] >= len(verdict.trials)


def test_a_kernel_wrapped_as_a_custom_op_passes_without_a_patching_flag():
    """Registering a custom op imports Dynamo, which wraps torch.manual_seed and
    nn.Module.__init__ as it is imported: torch's own changes, not the candidate's."""
    verdict = verify(DATA / "kept_kernels" / "as_a_custom_op.py")
    assert verdict.passed and verdict.flags == [], verdict.summary()
    assert verdict.custom_kernels["launches"]["scale_add_kernel"] >= len(verdict.trials)
