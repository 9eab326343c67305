"""`kernel-agent eval --ray` on a real Ray cluster of 2 CPUs that the module starts on this host.

Through Ray, evaluate-only decides what the local pool decides, problem by problem; a Ray worker
killed while it runs a problem loses nothing (Ray retries the task, the driver records it once);
a driver killed midway resumes with --resume without running finished problems again; generate
mode brings its attempts, token counts and search directory back to the driver. Without Ray,
--ray says how to install it. The runs go through the CLI in child processes, each a Ray driver
connected to the module's cluster, as a user's `--ray ADDRESS` connects. (Ray binds a cluster
asked for on 127.0.0.1 to this host's own address, so the address is taken from ray.init.)
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kernel_agent.agent.cli import app
from kernel_agent.evals import ray_pool
from kernel_agent.evals.launch import EvalOptions, launch
from kernel_agent.evals.runner import RunError
from tests.conftest import require
from tests.openai_server import ScriptedOpenAIServer

from .conftest import CANDIDATES, EXPECTED, SUITE, read_json, rows, run_cli, start_cli
from .parallel import decisions, workers_of
from .test_generate import Model
from .test_resume import kill_midway

TASK_TITLE = b"ray::run_problem"  # a Ray worker's process title while it runs a problem


@pytest.fixture(scope="module")
def ray_installed() -> None:
    require("Ray (pip install 'kernel-agent[ray]')", importlib.util.find_spec("ray") is not None,
            "KERNEL_AGENT_REQUIRE_RAY")


@pytest.fixture(scope="module")
def ray_address(ray_installed: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A local Ray cluster of 2 CPUs for this module, shut down (every worker too) after it;
    its workers keep their caches (kernel memory, baselines) in a directory of their own."""
    import ray

    with pytest.MonkeyPatch.context() as patch:  # the cluster's processes inherit it
        patch.setenv("KERNEL_AGENT_CACHE", str(tmp_path_factory.mktemp("ray-cache")))
        context = ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
                           object_store_memory=100 << 20, log_to_driver=False)
    try:
        yield context.address_info["address"]
    finally:
        ray.shutdown()


def expected_decisions() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Per problem, the hand-derived outcome and attempt statuses (see conftest.EXPECTED)."""
    return {problem: (e[0], (e[1],) if e[1] is not None else ())
            for problem, e in EXPECTED.items()}


def outcome_and_statuses(run_dir: Path) -> dict[str, tuple[str | None, tuple[str, ...]]]:
    return {problem: (outcome, tuple(a[0] for a in attempts))
            for problem, (outcome, attempts) in decisions(run_dir).items()}


def test_ray_decides_what_the_local_pool_decides(tmp_path: Path, ray_address: str):
    local = run_cli("eval", SUITE, "--candidates", CANDIDATES, "--gpus", "cpu", "--workers", "1",
                    "--out", tmp_path / "local")
    assert local.returncode == 0, local.stdout + local.stderr
    on_ray = run_cli("eval", SUITE, "--candidates", CANDIDATES, "--ray", ray_address,
                     "--out", tmp_path / "ray")
    assert on_ray.returncode == 0, on_ray.stdout + on_ray.stderr
    assert f"on the Ray cluster {ray_address}" in " ".join(on_ray.stdout.split())

    assert outcome_and_statuses(tmp_path / "local") == expected_decisions()  # not vacuous
    assert decisions(tmp_path / "ray") == decisions(tmp_path / "local")
    # each problem ran in a Ray worker process of this host, not in the driver
    ran_by = workers_of(tmp_path / "ray")
    assert all(w.endswith("/cpu") and f":{os.getpid()}/" not in w for w in ran_by.values()), ran_by
    attempts = rows(tmp_path / "ray", "SELECT problem, candidate FROM attempts")
    assert {a["problem"]: a["candidate"] for a in attempts} == {
        a["problem"]: a["candidate"]
        for a in rows(tmp_path / "local", "SELECT problem, candidate FROM attempts")}
    assert untimed_headline(tmp_path / "ray") == untimed_headline(tmp_path / "local")


def untimed_headline(run_dir: Path) -> dict[str, object]:
    """The report's headline without what depends on how fast the machine ran it."""
    headline = read_json(run_dir / "report.json")["headline"]
    return {k: v for k, v in headline.items() if k != "first_correct" and "time" not in k}


def task_processes() -> list[int]:
    """Ray worker processes of this module's cluster (descendants of this process) that are
    running a problem now."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "cmdline").read_bytes().startswith(TASK_TITLE) and descends_from_us(
                    int(entry.name)):
                found.append(int(entry.name))
        except OSError:  # gone meanwhile
            continue
    return found


def descends_from_us(pid: int) -> bool:
    while pid > 1:
        if pid == os.getpid():
            return True
        stat = Path(f"/proc/{pid}/stat").read_text()
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return False


def test_a_killed_ray_worker_loses_no_problem(tmp_path: Path, ray_address: str):
    run_dir = tmp_path / "run"
    child = start_cli("eval", SUITE, "--candidates", CANDIDATES, "--ray", ray_address,
                      "--out", run_dir)
    try:
        deadline = time.monotonic() + 120
        while not (running := task_processes()):
            assert child.poll() is None, child.stdout.read() if child.stdout else ""
            assert time.monotonic() < deadline, "no Ray worker ever ran a problem"
            time.sleep(0.02)
        killed = running[0]
        os.kill(killed, signal.SIGKILL)  # mid-problem: its first one, sandbox warm-up included
        output, _ = child.communicate(timeout=180)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, output

    assert outcome_and_statuses(run_dir) == expected_decisions()
    problems = rows(run_dir, "SELECT id, state, runs, worker FROM problems")
    assert all(p["state"] == "done" and p["runs"] == 1 for p in problems), problems
    # the problem the killed worker held was run again by another worker, and recorded once
    assert not any(p["worker"].startswith(f"{os.uname().nodename}:{killed}/") for p in problems)
    attempts = rows(run_dir, "SELECT problem FROM attempts")
    assert sorted(a["problem"] for a in attempts) == sorted(
        p for p, e in EXPECTED.items() if e[1] is not None)


def test_a_problem_lost_more_often_than_retried_is_left_for_resume(tmp_path: Path,
                                                                   ray_address: str,
                                                                   monkeypatch):
    monkeypatch.setattr(ray_pool, "MAX_RETRIES", 0)  # the first loss spends the retries
    options = EvalOptions(suite=str(SUITE), out=tmp_path / "run", candidates=CANDIDATES,
                          ray=ray_address)
    failures: list[RunError] = []

    def run() -> None:  # in this process: the module's driver, already connected
        try:
            launch(options)
        except RunError as exc:
            failures.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while not (running := task_processes()):
            assert thread.is_alive() and time.monotonic() < deadline, "no problem ever ran"
            time.sleep(0.02)
        os.kill(running[0], signal.SIGKILL)
    finally:
        thread.join(180)
    assert len(failures) == 1, "the run must say that a problem was lost"
    message = str(failures[0])
    assert "1 problem(s) did not finish on the Ray cluster (a lost worker is retried 0 " \
           "times)" in message and "WorkerCrashedError" in message
    states = {r["id"]: r for r in rows(tmp_path / "run", "SELECT * FROM problems")}
    lost = [p for p, r in states.items() if r["state"] != "done"]
    assert len(lost) == 1 and lost[0] in message and states[lost[0]]["state"] == "pending"

    launch(replace(options, resume=True))
    after = {r["id"]: r for r in rows(tmp_path / "run", "SELECT * FROM problems")}
    assert {p: r["runs"] for p, r in after.items()} == {p: 2 if p in lost else 1 for p in after}
    assert outcome_and_statuses(tmp_path / "run") == expected_decisions()


def test_a_killed_driver_resumes_without_rerunning_finished_problems(tmp_path: Path,
                                                                     ray_address: str):
    run_dir = tmp_path / "run"
    child = start_cli("eval", SUITE, "--candidates", CANDIDATES, "--ray", ray_address,
                      "--out", run_dir)
    kill_midway(child, run_dir)
    before = {r["id"]: r for r in rows(run_dir, "SELECT * FROM problems")}
    finished = {p for p, r in before.items() if r["state"] == "done"}
    in_flight = {p for p, r in before.items() if r["state"] == "running"}
    assert finished and in_flight and len(finished) < len(EXPECTED)

    resumed = run_cli("eval", SUITE, "--candidates", CANDIDATES, "--ray", ray_address,
                      "--out", run_dir, "--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"{len(finished)} of {len(EXPECTED)} problems already done" in resumed.stdout
    after = {r["id"]: r for r in rows(run_dir, "SELECT * FROM problems")}
    assert all(r["state"] == "done" for r in after.values())
    for problem in finished:  # not run again
        assert (after[problem]["runs"], after[problem]["finished_at"]) == (
            1, before[problem]["finished_at"]), problem
    for problem in in_flight:  # held by the killed driver, so run a second time
        assert after[problem]["runs"] == 2, problem
    assert outcome_and_statuses(run_dir) == expected_decisions()


def test_generate_mode_brings_attempts_usage_and_search_back(tmp_path: Path, ray_address: str):
    run_dir = tmp_path / "run"
    model = Model()
    env = {"KERNEL_AGENT_MODE": "closed_loop", "XDG_CONFIG_HOME": str(tmp_path / "config")}
    with ScriptedOpenAIServer(model) as server:
        done = run_cli("eval", SUITE, "--level", "2", "--problems", "1", "--branches", "1",
                       "--budget", "3m", "--rounds", "4", "--profile", "local", "--base-url",
                       server.base_url, "--model", "scripted-model", "--no-memory",
                       "--ray", ray_address, "--out", run_dir, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    # a crashing kernel, the critic, then the right one: both attempts, timed from the start
    assert model.kinds == ["plan 1_Add_ReLU", "generate 1_Add_ReLU", "critic 1_Add_ReLU",
                           "generate 1_Add_ReLU"]
    attempts = rows(run_dir, "SELECT * FROM attempts ORDER BY attempt")
    assert [a["status"] for a in attempts] == ["fail", "pass"]
    assert 0 < attempts[0]["elapsed_s"] < attempts[1]["elapsed_s"] < 180
    problem = rows(run_dir, "SELECT * FROM problems")[0]
    assert (problem["outcome"], problem["prompt_tokens"], problem["completion_tokens"],
            problem["requests"]) == ("evaluated", 400, 200, 4)
    assert problem["worker"].endswith("/cpu")
    ledger = run_dir / "searches" / "level2__1_Add_ReLU" / "candidates.jsonl"
    assert len(ledger.read_text().splitlines()) == 2  # the search kept with the run, as locally
    assert read_json(run_dir / "report.json")["headline"]["correct"]["count"] == 1


def test_without_ray_the_option_says_how_to_install_it(tmp_path: Path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails, as where it is absent
    monkeypatch.setenv("COLUMNS", "400")  # the message unwrapped
    result = CliRunner().invoke(app, ["eval", str(SUITE), "--candidates", str(CANDIDATES),
                                      "--ray", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2, result.output
    assert "--ray needs Ray" in result.output
    assert "pip install 'kernel-agent[ray]'" in result.output
    assert not (tmp_path / "run").exists()


def test_an_address_where_no_cluster_answers_is_refused_at_once(tmp_path: Path, ray_installed):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_cli("eval", SUITE, "--candidates", CANDIDATES, "--ray", f"127.0.0.1:{port}",
                     "--out", tmp_path / "run", timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"no Ray cluster answers at 127.0.0.1:{port}" in " ".join(result.stderr.split())
    assert not (tmp_path / "run").exists()
