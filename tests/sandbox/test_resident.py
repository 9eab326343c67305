"""A resident sandbox process: the verifier's judge (tools/judge.py) is kept between candidates
while it stays fit; each candidate runs in a fresh process of its own, so that nothing one
candidate does reaches the next, and nothing any candidate does ends the judge.

Each test gets a fresh one-worker sandbox, so which process ran a task can be read off the pool:
`kept` is the pid of the process that answered the last task and waits for the next one.
"""

from __future__ import annotations

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
    live,
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
    """Processes under the fork server other than the resident one waiting for its next job
    (with its own children: the zygote, and the spare candidate process it forks once it has
    answered, maybe while this looks; so the server's tree is read first). A process that ends
    meanwhile is none: the last candidate's, whose end the zygote waits out after the answer."""
    server = sandbox.pool.servers[0]  # type: ignore[attr-defined]
    under_server = descendants(server.process.pid)
    idle = {server.kept, *descendants(server.kept)} if server.kept else set()
    return {pid for pid in under_server - idle if live(pid)}


def test_the_judge_is_kept_and_every_candidate_gets_a_fresh_process(resident: Sandbox) -> None:
    marking = CANDIDATES / "marks_its_process.py"  # it fails where an earlier candidate ran
    first = verify(resident, marking)
    process = kept(resident)
    second = verify(resident, marking)
    assert first.passed and second.passed, (first.summary(), second.summary())
    assert process is not None and kept(resident) == process
    assert leftovers(resident) == set()  # no candidate process outlives its verdict
    # Each verdict says which job of the judge's process it was, and why that one was started.
    # (The fixture's probe task ran first, in a process of its own: it keeps nothing.)
    first_because = ("the task kernel_agent.sandbox.probe:started keeps nothing between jobs "
                     "(no settle())")
    # The first candidate's process is forked for it; the second's was forked ahead, after the
    # first verdict, and waited for its task.
    assert first.process == {"job": 1, "fresh_because": first_because,
                             "candidate_process": "forked"}
    assert second.process == {"job": 2, "fresh_because": first_because,
                              "candidate_process": "spare"}


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


@pytest.mark.parametrize(("candidate", "flag"), [
    ("corrupts_kept_state.py", "verifier_inputs_modified"),
    ("patches_torch.py", "monkeypatched"),
    ("patches_timer_at_run.py", "monkeypatched"),
    ("shadows_tensor_method.py", "monkeypatched"),
    ("leaves_function_mode.py", "torch_mode_left_active"),
    ("replaces_aten_kernel.py", "aten_kernel_replaced"),
    ("leaves_trace_function.py", "interpreter_hook_left_active"),
])
def test_what_a_candidate_leaves_in_its_process_never_meets_the_next(
        resident: Sandbox, candidate: str, flag: str) -> None:
    """A patched function, a mode or a trace function left in force, another kernel for a torch
    operator, the verifier's inputs zeroed: each stays in the cheat's own process, which ends
    with its verdict. The judge that ran it takes the next candidate, which meets none of it."""
    verify(resident, CORRECT)
    process = kept(resident)
    cheat = verify(resident, CANDIDATES / candidate)
    assert cheat.status == "fail" and flag in {f.name for f in cheat.flags}, cheat.summary()
    honest = verify(resident, CORRECT)
    assert kept(resident) == process
    assert honest.passed and honest.flags == [], honest.summary()
    assert all(t.passed and t.max_abs_error == 0 for t in honest.trials)
    assert honest.process["job"] == cheat.process["job"] + 1 == 3


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
    process = kept(resident)
    crash = verify(resident, "segfault.py")
    assert crash.error is not None and crash.error.kind == "crashed", crash.summary()
    assert "SIGSEGV" in crash.error.message, crash.error.message
    after = verify(resident, CORRECT)
    assert after.passed
    assert kept(resident) == process and after.process["job"] == 3, "the judge lives on"
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
