"""A resident sandbox process: kept between candidates while it stays fit, replaced as soon as a
candidate could have left something behind, and never a channel from one candidate to the next.

Each test gets a fresh one-worker sandbox, so which process ran a task can be read off the pool:
`kept` is the pid of the process that answered the last task and waits for the next one.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

from kernel_agent.sandbox import Limits, Sandbox
from kernel_agent.sandbox.resident import holding
from kernel_agent.tools.check import check_files
from tests.sandbox.helpers import (
    CORRECT,
    DATA,
    PROBLEM,
    descendants,
    resident_sandbox,
    verify,
)

CANDIDATES = DATA / "candidates"


@pytest.fixture
def resident() -> Iterator[Sandbox]:
    yield from resident_sandbox()


def kept(sandbox: Sandbox) -> int | None:
    return sandbox.pool.servers[0].kept  # type: ignore[attr-defined]


def leftovers(sandbox: Sandbox) -> set[int]:
    """Processes under the fork server other than the resident one waiting for its next job."""
    server = sandbox.pool.servers[0]  # type: ignore[attr-defined]
    idle = {server.kept, *descendants(server.kept)} if server.kept else set()
    return descendants(server.process.pid) - idle


def test_the_next_candidate_is_verified_by_the_same_process(resident: Sandbox) -> None:
    first = verify(resident, CORRECT)
    process = kept(resident)
    second = verify(resident, CORRECT)
    assert first.passed and second.passed, (first.summary(), second.summary())
    assert process is not None and kept(resident) == process
    # The second found nothing left to import.
    assert second.phases["imports"] < 0.01 < first.phases["imports"]
    assert leftovers(resident) == set()
    # Each verdict says which job of its process it was, and why that process was started.
    # (The fixture's probe task ran first, in a process of its own: it keeps nothing.)
    first_because = ("the task kernel_agent.sandbox.probe:started keeps nothing between jobs "
                     "(no settle())")
    assert first.process == {"job": 1, "fresh_because": first_because}
    assert second.process == {"job": 2, "fresh_because": first_because}


def test_kept_reference_outputs_are_no_answer_for_the_unseen_trial(resident: Sandbox) -> None:
    """The kept state holds the reference's outputs for the answered trials' inputs; a candidate
    that copies them out passes those, but the unseen trial's answer exists nowhere while it
    runs, in the first verification or any later one."""
    for _ in range(2):
        verdict = check_files(PROBLEM, CANDIDATES / "reads_answer.py", sandbox=resident,
                              limits=Limits(wall_s=60), trials=3, timing=False)
        assert [t.passed for t in verdict.trials] == [True, True, False], verdict.summary()
        assert "wrong_on_unseen_inputs" in {f.name for f in verdict.flags}


def test_a_candidate_writing_into_its_inputs_changes_nothing_for_the_next(
        resident: Sandbox) -> None:
    hostile = verify(resident, CANDIDATES / "modifies_input.py")
    assert "inputs_modified" in {f.name for f in hostile.flags}, hostile.summary()
    process = kept(resident)
    honest = verify(resident, CORRECT)
    assert kept(resident) == process, "writing into its own copies is no reason to stop"
    assert honest.passed, honest.summary()
    assert all(t.passed and t.max_abs_error == 0 for t in honest.trials)


def test_a_no_op_finds_no_earlier_candidates_results_in_freed_memory(resident: Sandbox) -> None:
    """The next candidate gets the same seeded inputs: the results the last one left in freed
    memory would be right for it."""
    assert verify(resident, CORRECT).passed
    process = kept(resident)
    empty = verify(resident, CANDIDATES / "returns_empty.py")
    assert kept(resident) == process
    assert empty.status == "fail" and not any(t.passed for t in empty.trials), empty.summary()


def test_a_candidate_corrupting_the_kept_state_ends_the_process(resident: Sandbox) -> None:
    verify(resident, CORRECT)
    process = kept(resident)
    corrupting = verify(resident, CANDIDATES / "corrupts_kept_state.py")
    assert kept(resident) == process  # it answered from that process
    # Its one trial is the unseen one: the reference would have run on the zeroed inputs.
    assert "verifier_inputs_modified" in {f.name for f in corrupting.flags}, corrupting.summary()
    assert corrupting.status == "fail"
    honest = verify(resident, CORRECT)
    assert kept(resident) not in (None, process), "the corrupted process took another task"
    assert honest.passed, honest.summary()
    assert all(t.passed and t.max_abs_error == 0 for t in honest.trials)
    assert honest.phases["imports"] > 0.01  # a new process, which imported again
    assert honest.process == {"job": 1, "fresh_because": "the kept problem state changed"}


@pytest.mark.parametrize("candidate", ["patches_torch.py", "patches_timer_at_run.py"])
def test_a_monkeypatching_candidate_ends_the_process(resident: Sandbox, candidate: str) -> None:
    cheat = verify(resident, CANDIDATES / candidate)
    assert "monkeypatched" in {f.name for f in cheat.flags}, cheat.summary()
    process = kept(resident)
    honest = verify(resident, CORRECT)
    assert kept(resident) not in (None, process)
    assert honest.passed and honest.flags == [], honest.summary()
    assert honest.process["job"] == 1
    why = honest.process["fresh_because"]
    assert why.startswith("changed while the task ran: "), why


def test_a_candidate_reaching_past_its_own_calls_ends_the_process(resident: Sandbox) -> None:
    """Shadowing on torch.Tensor, a mode left entered, another kernel for a torch operator and
    a trace function all reach past the candidate's own calls; none may meet the next one."""
    for candidate, why in (("shadows_tensor_method.py", "changed while the task ran: "),
                           ("leaves_function_mode.py", "torch modes left in force: Lenient"),
                           ("replaces_aten_kernel.py",
                            "torch operators given other kernels: aten::le.Tensor"),
                           ("leaves_trace_function.py",
                            "interpreter hooks left set: sys.settrace")):
        cheat = verify(resident, CANDIDATES / candidate)
        assert not cheat.passed, cheat.summary()
        honest = verify(resident, CORRECT)
        assert honest.passed and honest.flags == [], honest.summary()
        assert honest.process["job"] == 1 and honest.process["fresh_because"].startswith(why), \
            honest.process


def test_files_a_candidate_left_are_gone_for_the_next(resident: Sandbox) -> None:
    keeper = verify(resident, "secret_keeper.py")
    process = kept(resident)
    seeker = verify(resident, "secret_seeker.py")
    assert keeper.passed, keeper.summary()
    assert kept(resident) == process
    assert seeker.passed, seeker.summary()  # it fails naming the file if it finds one


def test_a_candidate_cannot_plant_files_in_another_ones_compile_folder(
        resident: Sandbox) -> None:
    checker = CANDIDATES / "cache_checker.py"
    assert verify(resident, checker).passed
    process = kept(resident)
    assert verify(resident, CANDIDATES / "cache_planter.py").passed
    again = verify(resident, checker)
    assert kept(resident) == process
    assert again.passed, again.summary()


def test_a_crash_is_reported_as_such_and_the_next_candidate_passes(resident: Sandbox) -> None:
    verify(resident, CORRECT)
    crash = verify(resident, "segfault.py")
    assert crash.error is not None and crash.error.kind == "crashed", crash.summary()
    assert str(int(signal.SIGSEGV)) in crash.error.message or "SIGSEGV" in crash.error.message
    after = verify(resident, CORRECT)
    assert after.passed
    assert after.process["job"] == 1
    assert after.process["fresh_because"].startswith("the last task did not answer"), after.process
    assert leftovers(resident) == set()


def test_a_timeout_kills_the_process_and_the_next_candidate_passes(resident: Sandbox) -> None:
    verify(resident, CORRECT)
    hung = verify(resident, "infinite_loop.py", Limits(wall_s=4))
    assert hung.error is not None and hung.error.kind == "timeout", hung.summary()
    assert verify(resident, CORRECT).passed
    assert leftovers(resident) == set()



def test_code_mounted_into_a_private_tmp_is_kept_when_the_process_tidies_up() -> None:
    # A checkout or PYTHONPATH folder under /tmp is mounted read-only into the task's private
    # /tmp (sandbox/isolation.py, code_under): tidying must leave the entries that hold such
    # mounts, or the process could never stay (their removal fails).
    mounts = ["/", "/tmp", "/tmp/ci", "/tmp/x/venv/lib", "/proc", "/var/tmp", "/tmpfoo/y"]
    assert holding("/tmp", mounts) == ["/tmp/ci", "/tmp/x"]
    assert holding("/var/tmp", mounts) == []
    assert holding("/tmp/", ["/tmp/a b/c"]) == ["/tmp/a b"]
