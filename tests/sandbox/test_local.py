"""The local backend's own promises: the host outlives its fork servers, GPU discovery works
without NVML, and where namespaces or cgroups are missing the results say so and the rest holds.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kernel_agent.sandbox import (
    STARTED_EARLY,
    Limits,
    LocalSandbox,
    one_shot_sandbox,
    start_one_shot_early,
)
from kernel_agent.sandbox.environment import scrubbed_env
from kernel_agent.sandbox.gpus import discover_gpus
from kernel_agent.sandbox.pool import TRITON_SETTLED, one_shot_preload
from kernel_agent.sandbox.probe import LINGER_SECONDS
from tests.sandbox.helpers import (
    CORRECT,
    descendants,
    live,
    processes_running,
    task_dirs,
    verify,
)

STARTED = "kernel_agent.sandbox.probe:started"


def server_pids(sandbox: LocalSandbox) -> list[int]:
    return [s.process.pid for s in sandbox.pool.servers if s.process is not None]


def test_a_killed_fork_server_is_replaced(local_sandbox: LocalSandbox) -> None:
    assert local_sandbox.run(STARTED, {}).ok
    for pid in server_pids(local_sandbox):
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    result = local_sandbox.run(STARTED, {})
    assert result.ok, result
    assert verify(local_sandbox, CORRECT).passed


def test_a_fork_server_dying_mid_task_fails_that_task_only(local_sandbox: LocalSandbox) -> None:
    before = descendants(os.getpid())
    results = []
    worker = threading.Thread(target=lambda: results.append(
        local_sandbox.run("kernel_agent.sandbox.probe:spin", {}, Limits(wall_s=60))))
    worker.start()
    time.sleep(1.0)
    busy = [s for s in local_sandbox.pool.servers if s not in local_sandbox.pool.idle]
    assert busy and busy[0].process is not None
    os.kill(busy[0].process.pid, signal.SIGKILL)
    worker.join(timeout=10)
    assert not worker.is_alive(), "the host hung on a dead fork server"
    failure = results[0].failure
    assert failure is not None and failure.kind == "sandbox_error"
    assert "fork server" in failure.message
    time.sleep(0.5)
    assert descendants(os.getpid()) <= before | set(server_pids(local_sandbox))
    assert verify(local_sandbox, CORRECT).passed


def test_secrets_never_pass_the_allow_list() -> None:
    env = scrubbed_env({"PATH": "/bin", "NVIDIA_VISIBLE_DEVICES": "0", "NVIDIA_API_KEY": "x",
                        "OPENAI_API_KEY": "x", "AWS_ACCESS_KEY_ID": "x", "HF_TOKEN": "x",
                        "KERNEL_AGENT_SANDBOX_TOKEN": "x", "GITHUB_TOKEN": "x", "HOME": "/root"})
    assert set(env) == {"PATH", "NVIDIA_VISIBLE_DEVICES", "PYTHONUNBUFFERED"}


def test_gpu_discovery_falls_back_to_none_without_nvml() -> None:
    try:
        import pynvml  # noqa: F401
    except ImportError:
        if shutil.which("nvidia-smi"):
            pytest.skip("nvidia-smi is here: GPUs may be found without nvidia-ml-py")
        assert discover_gpus() == []
        assert LocalSandbox().pool.servers[0].gpu is None  # one CPU worker, no GPU pinned
    else:
        pytest.skip("nvidia-ml-py is installed here")


@pytest.fixture(scope="module")
def bare_sandbox(bait: dict[str, Any]) -> Iterator[LocalSandbox]:
    """No namespaces, no cgroups: what a host that allows neither gets."""
    sandbox = LocalSandbox(namespaces=False, cgroups=False)
    yield sandbox
    sandbox.close()


def test_without_namespaces_the_notes_say_so(bare_sandbox: LocalSandbox) -> None:
    result = bare_sandbox.run(STARTED, {})
    assert result.ok
    text = " ".join(result.notes)
    assert "no namespaces" in text and "network" in text and "no cgroups" in text


def test_without_namespaces_tasks_are_still_killed_and_cleaned_up(
        bare_sandbox: LocalSandbox) -> None:
    dirs = task_dirs()
    started = time.monotonic()
    spin = bare_sandbox.run("kernel_agent.sandbox.probe:spin", {}, Limits(wall_s=2))
    assert spin.failure is not None and spin.failure.kind == "timeout"
    assert time.monotonic() - started <= 4
    for _ in range(3):
        assert bare_sandbox.run("kernel_agent.sandbox.probe:linger", {}).ok
    assert processes_running(b"sleep\0" + LINGER_SECONDS.encode()) == []
    crash = bare_sandbox.run("kernel_agent.sandbox.probe:crash", {})
    assert crash.failure is not None and crash.failure.kind == "crashed"
    assert task_dirs() <= dirs


def test_without_cgroups_memory_is_capped_by_rlimit(bare_sandbox: LocalSandbox) -> None:
    hog = bare_sandbox.run("kernel_agent.sandbox.probe:hog", {}, Limits(memory_mb=2048))
    assert hog.failure is not None and hog.failure.kind == "out_of_memory", hog
    assert "MemoryError" in hog.failure.message
    assert verify(bare_sandbox, CORRECT).passed


def test_code_kept_under_tmp_stays_importable_behind_the_private_tmp(tmp_path) -> None:
    """A checkout or environment under /tmp (a CI clone) is still importable by the task."""
    assert str(tmp_path).startswith("/tmp/"), "the test needs a directory under /tmp"
    code = tmp_path / "code"
    code.mkdir()
    (code / "under_tmp_task.py").write_text(
        "def run(payload):\n    return {'x': payload['x'] + 1}\n\n\n"
        "def peek(payload):\n    return {'text': open(payload['path']).read()}\n")
    secret = tmp_path / "secret.txt"
    secret.write_text("host file")
    sandbox = LocalSandbox(env={"PYTHONPATH": str(code)})
    try:
        assert sandbox.run("under_tmp_task:run", {"x": 41}).value == {"x": 42}
        peek = sandbox.run("under_tmp_task:peek", {"path": str(secret)})
        assert not peek.ok and "FileNotFoundError" in peek.failure.message, peek
    finally:
        sandbox.close()
    assert secret.read_text() == "host file"


def seen_by_a_task(tmp_path: Path, path: Path, *, verified: bool = False) -> bool:
    """Whether a task in a local sandbox sees `path`; with `verified`, a kernel is verified in
    that sandbox too (Python under a hidden folder still runs)."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "peek_task.py").write_text(
        "import os\n\n\ndef peek(payload):\n    return {'seen': os.path.exists(payload['path'])}\n")
    sandbox = LocalSandbox(env={"PYTHONPATH": str(code)})
    try:
        result = sandbox.run("peek_task:peek", {"path": str(path)})
        assert result.ok, result
        assert not verified or verify(sandbox, CORRECT).passed
        return result.value["seen"]
    finally:
        sandbox.close()


def test_the_home_directory_is_hidden_but_python_under_it_still_runs(tmp_path) -> None:
    """Keys and tokens in ~ stay out of reach, even where the interpreter itself lives in ~."""
    secret = Path.home() / f".kernel-agent-test-secret-{os.getpid()}"
    secret.write_text("token")
    try:
        assert not seen_by_a_task(tmp_path, secret, verified=True)
    finally:
        secret.unlink()


def test_the_interpreters_c_headers_stay_visible_for_what_builds_against_them(tmp_path) -> None:
    """torch.compile and C extensions build against Python.h, which a venv keeps only in its base
    interpreter's folder (under ~ with pyenv)."""
    header = Path(sysconfig.get_paths()["include"]) / "Python.h"
    assert seen_by_a_task(tmp_path, header) == header.exists()


def test_a_one_shot_sandbox_started_early_is_the_one_handed_out_and_runs_its_task() -> None:
    """`kernel-agent check` starts its sandbox's server before its own imports: the server runs
    before any task, the next one-shot sandbox is that one, and the one after is a new one."""
    start_one_shot_early()
    early = STARTED_EARLY[-1]
    started = server_pids(early)
    second = None
    try:
        assert started and all(live(pid) for pid in started)
        handed = one_shot_sandbox()
        assert handed is early and not STARTED_EARLY
        assert verify(handed, CORRECT).passed
        assert server_pids(handed) == started  # the task ran on the server started early
        second = one_shot_sandbox()
        assert second is not early and not server_pids(second)  # not started yet
    finally:
        early.close()
        if second is not None:
            second.close()
    assert not any(live(pid) for pid in started)


def test_another_backend_asked_for_closes_the_local_sandbox_started_early() -> None:
    start_one_shot_early()
    started = server_pids(STARTED_EARLY[-1])
    with pytest.raises(ValueError, match="unknown sandbox 'elsewhere'"):
        one_shot_sandbox("elsewhere")
    assert not STARTED_EARLY
    assert started and not any(live(pid) for pid in started)


def test_a_check_that_runs_no_task_leaves_no_server_started_early() -> None:
    """`kernel-agent check --help` (or arguments that are refused) never takes the sandbox
    started early; it is closed as the command exits."""
    script = ("import sys; import kernel_agent.sandbox as sandbox; "
              "from kernel_agent.agent.entry import main; "
              "sys.argv = ['kernel-agent', 'check', '--help']\n"
              "try:\n    main()\n"
              "finally:\n    print('servers', *(s.process.pid for s in "
              "sandbox.STARTED_EARLY[0].pool.servers), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Verify CANDIDATE against PROBLEM" in done.stdout
    pids = [int(word) for word in done.stderr.split("servers", 1)[1].split()]
    assert pids and not any(live(pid) for pid in pids)


def test_a_one_shot_sandbox_keeps_no_task_process_and_preloads_what_its_task_uses() -> None:
    """`kernel-agent check`'s sandbox: its server imports torch before the task (and on a GPU
    Triton, settled), the task imports the rest it uses, and the task's process is not kept for
    a next task."""
    sandbox = one_shot_sandbox()
    try:
        assert {(tuple(s.config["preload"]), s.config["resident"])
                for s in sandbox.pool.servers} == {(one_shot_preload(bool(sandbox.gpus)), False)}
        assert one_shot_preload(False) == ("torch",)
        assert one_shot_preload(True) == ("torch", "triton", TRITON_SETTLED)
        assert verify(sandbox, CORRECT).passed
    finally:
        sandbox.close()
