"""A search's K verifications run at once, each on its own worker of the local sandbox, and the
sandbox `run_search` makes by default has a worker per branch (up to the CPUs here; on a GPU host
one per GPU, which tests/gpu/test_multi_gpu.py checks)."""

from __future__ import annotations

import os

from kernel_agent.graphs import run_search
from kernel_agent.sandbox.gpus import discover_gpus
from tests.openai_server import ScriptedOpenAIServer

from .conftest import chat_model
from .scripts import CORRECT, PROBLEM, Router, distinct, r1
from .spread import PoolWatch, watch_default_sandbox

IDEAS = ["one block per program", "block of 1024", "grid-stride loop"]


def correct_kernels() -> Router:
    return Router(lambda round_, idea, request: r1(distinct(CORRECT, idea)), IDEAS)


def test_k_branches_verify_at_once_on_k_workers(tmp_path, sandbox):
    workers = len(sandbox.pool.servers)
    watch = PoolWatch(sandbox)
    try:
        with ScriptedOpenAIServer(correct_kernels()) as server:
            result = run_search(PROBLEM, tmp_path / "run", model=chat_model(server),
                                mode="closed_loop", branches=workers, rounds=1,
                                sandbox=sandbox, use_memory=False, tune=False)
    finally:
        watch.restore()
    assert result.status == "pass", result.error
    verified = watch.verifications()
    assert sorted(ran.candidate for ran in verified) == sorted(
        c["path"] for c in result.candidates)
    assert len(verified) == workers
    assert watch.peak_verifying == workers, "all branches' verifications ran at once"
    assert set(watch.per_worker()) == set(range(workers)), "each on a worker of its own"


def test_run_search_default_sandbox_spreads_branches_over_its_workers(tmp_path, monkeypatch):
    branches = 3
    made = watch_default_sandbox(monkeypatch)
    with ScriptedOpenAIServer(correct_kernels()) as server:
        result = run_search(PROBLEM, tmp_path / "run", model=chat_model(server),
                            mode="closed_loop", branches=branches, rounds=1,
                            use_memory=False, tune=False)
    assert result.status == "pass", result.error
    assert len(made) == 1, "one sandbox for the whole search"
    _, watch = made[0]
    gpus = discover_gpus()  # none in CI; on a GPU host, a worker per GPU
    slots = gpus or [None] * min(branches, os.cpu_count() or 1)
    assert [server.gpu for server in watch.servers] == slots
    assert len(watch.verifications()) == branches
    at_once = min(branches, len(slots))
    assert watch.peak_verifying == at_once
    assert len(watch.per_worker()) == at_once
    assert not any(server.alive for server in watch.servers), "closed with the search"
