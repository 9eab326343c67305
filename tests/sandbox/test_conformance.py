"""The conformance suite every sandbox backend must pass, run against each one.

Each hostile candidate goes through the whole path (`check_files` -> verifier task in the
sandbox -> verdict), must end with the right structured failure within its limit (+2 s), must
leave this process healthy, and the next candidate in the same sandbox must pass.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from kernel_agent.sandbox import Limits, Sandbox, get_sandbox
from kernel_agent.sandbox.probe import LINGER_SECONDS
from kernel_agent.tools.check import check_files
from tests.sandbox.helpers import (
    CORRECT,
    FAKE_KEYS,
    ROOT,
    descendants,
    processes_running,
    strays,
    task_dirs,
    verify,
)

SLACK_S = 2.0


def assert_next_passes(sandbox: Sandbox) -> None:
    verdict = verify(sandbox, CORRECT)
    assert verdict.passed, verdict.summary()


def timed_verify(sandbox: Sandbox, name: str, limits: Limits) -> tuple[Any, float]:
    started = time.monotonic()
    verdict = verify(sandbox, name, limits)
    return verdict, time.monotonic() - started


def test_correct_candidate_passes(sandbox: Sandbox) -> None:
    assert_next_passes(sandbox)


def test_a_kernel_calling_jit_helpers_passes(sandbox: Sandbox) -> None:
    """Triton fixes its interpreter mode when first imported: a sandbox that imported triton
    before the verifier asked for the interpreter breaks kernels that call @triton.jit helpers."""
    example = ROOT / "examples" / "rmsnorm"
    verdict = check_files(example / "problem.py", example / "kernel.py", sandbox=sandbox,
                          limits=Limits(wall_s=120), trials=1, timing=False)
    assert verdict.passed, verdict.summary()


def test_infinite_loop_times_out(sandbox: Sandbox) -> None:
    verdict, elapsed = timed_verify(sandbox, "infinite_loop.py", Limits(wall_s=4))
    assert verdict.error is not None and verdict.error.kind == "timeout", verdict.summary()
    assert elapsed <= 4 + SLACK_S
    assert_next_passes(sandbox)


def test_segfault_crashes_with_sigsegv(sandbox: Sandbox) -> None:
    verdict, elapsed = timed_verify(sandbox, "segfault.py", Limits(wall_s=30))
    assert verdict.error is not None and verdict.error.kind == "crashed", verdict.summary()
    assert "SIGSEGV" in verdict.error.message
    assert elapsed <= 30
    assert_next_passes(sandbox)


def test_memory_hog_is_out_of_memory(sandbox: Sandbox) -> None:
    verdict, elapsed = timed_verify(sandbox, "memory_hog.py", Limits(wall_s=30, memory_mb=1024))
    assert verdict.error is not None and verdict.error.kind == "out_of_memory", verdict.summary()
    assert elapsed <= 30 + SLACK_S
    assert_next_passes(sandbox)


def test_fork_bomb_is_contained(sandbox: Sandbox) -> None:
    verdict, elapsed = timed_verify(sandbox, "fork_bomb.py", Limits(wall_s=5, max_processes=64))
    assert not verdict.passed
    assert verdict.error is not None and verdict.error.kind in {"timeout", "crashed"}
    assert elapsed <= 5 + SLACK_S
    assert strays(sandbox) == [], "processes outlived the fork bomb"
    assert_next_passes(sandbox)


def test_writes_outside_the_work_dir_do_not_persist(sandbox: Sandbox,
                                                    bait: dict[str, Any]) -> None:
    marker = "kernel-agent-hostile-write"
    places = [bait["dir"], "/tmp", "/var/tmp", "/dev/shm", "/", "/root", "/work", "/home"]
    for place in places:
        assert not os.path.exists(os.path.join(place, marker))
    verdict = verify(sandbox, "write_outside.py")
    assert verdict.passed, verdict.summary()  # it ran to the end, having tried every write
    assert [p for p in places if os.path.exists(os.path.join(p, marker))] == []
    assert_next_passes(sandbox)


def test_network_connections_fail(sandbox: Sandbox, bait: dict[str, Any]) -> None:
    before = bait["listener"].accepted
    verdict = verify(sandbox, "network.py")
    assert verdict.passed, verdict.summary()
    assert bait["listener"].accepted == before
    assert_next_passes(sandbox)


def test_api_keys_are_absent(sandbox: Sandbox) -> None:
    assert all(os.environ.get(name) == value for name, value in FAKE_KEYS.items())
    verdict = verify(sandbox, "api_keys.py")
    assert verdict.passed, verdict.summary()
    assert_next_passes(sandbox)


def test_signalling_ancestors_hurts_nobody(sandbox: Sandbox) -> None:
    before = descendants(os.getpid())
    verdict = verify(sandbox, "signal_parent.py")
    assert verdict.passed, verdict.summary()
    if sandbox.name == "local":
        assert descendants(os.getpid()) == before  # no fork server was killed and replaced
    assert_next_passes(sandbox)


def test_other_candidates_files_are_out_of_reach(sandbox: Sandbox) -> None:
    with ThreadPoolExecutor(2) as pool:
        keeper = pool.submit(verify, sandbox, "secret_keeper.py")
        time.sleep(0.5)
        seeker = pool.submit(verify, sandbox, "secret_seeker.py")
        verdicts = keeper.result(), seeker.result()
    assert all(v.passed for v in verdicts), [v.summary() for v in verdicts]


def test_environment_and_privileges_seen_from_inside(sandbox: Sandbox,
                                                     bait: dict[str, Any]) -> None:
    result = sandbox.run("kernel_agent.sandbox.probe:report", {"port": bait["listener"].port},
                         Limits(wall_s=30))
    assert result.ok, result
    seen = result.value
    assert seen is not None
    assert not set(FAKE_KEYS) & set(seen["env_names"])
    assert seen["capabilities"] == "0000000000000000"
    assert seen["no_new_privs"]
    assert not seen["root_writable"] and seen["cwd_writable"]
    assert seen["loopback"], "a task reached the host's loopback"
    assert seen["visible_processes"] <= 3  # itself and its supervisor, nothing of the host


@pytest.fixture
def light(sandbox: Sandbox) -> Iterator[Sandbox]:
    """The backend without torch preloaded, for tasks that need none: no standby container
    imports torch for nothing, and the local pool is the shared one."""
    if sandbox.name == "local":
        yield sandbox
        return
    light = get_sandbox("docker", preload=(), standby=0)
    yield light
    light.close()


def test_fifty_tasks_leave_nothing_behind(light: Sandbox) -> None:
    sandbox = light
    dirs_before = task_dirs()
    tasks = ["started", "crash", "linger"]
    for number in range(50):
        name = tasks[number % len(tasks)]
        result = sandbox.run(f"kernel_agent.sandbox.probe:{name}", {}, Limits(wall_s=30))
        if name == "crash":
            assert result.failure is not None and result.failure.kind == "crashed", result
        else:
            assert result.ok, result
    deadline = time.monotonic() + 5
    while processes_running(b"sleep\0" + LINGER_SECONDS.encode()) and time.monotonic() < deadline:
        time.sleep(0.1)  # a removed container's processes may take a moment to be reaped
    assert processes_running(b"sleep\0" + LINGER_SECONDS.encode()) == []
    assert strays(sandbox) == []
    assert task_dirs() <= dirs_before


def test_a_task_that_cannot_be_found_is_a_failure_not_an_exception(sandbox: Sandbox) -> None:
    result = sandbox.run("kernel_agent.no_such_module:task", {}, Limits(wall_s=30))
    assert result.failure is not None and result.failure.kind == "sandbox_error"
    assert "no_such_module" in result.failure.message


def test_plain_tasks_are_classified(sandbox: Sandbox) -> None:
    started = time.monotonic()
    spin = sandbox.run("kernel_agent.sandbox.probe:spin", {}, Limits(wall_s=2))
    assert spin.failure is not None and spin.failure.kind == "timeout"
    assert time.monotonic() - started <= 2 + SLACK_S
    hog = sandbox.run("kernel_agent.sandbox.probe:hog", {}, Limits(wall_s=30, memory_mb=512))
    assert hog.failure is not None and hog.failure.kind == "out_of_memory", hog
    crash = sandbox.run("kernel_agent.sandbox.probe:crash", {}, Limits(wall_s=30))
    assert crash.failure is not None and crash.failure.signal == signal.SIGSEGV
    assert sandbox.run("kernel_agent.sandbox.probe:started", {}, Limits(wall_s=30)).ok
