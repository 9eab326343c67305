"""On a host with two or more GPUs: a search's verifications and an eval's problems go to every
GPU. Skipped with fewer than two (KERNEL_AGENT_REQUIRE_MULTI_GPU=1 makes that a failure)."""

from __future__ import annotations

from collections import Counter

import pytest

from kernel_agent.evals.launch import EvalOptions, launch
from kernel_agent.graphs import run_search
from kernel_agent.sandbox.gpus import discover_gpus
from tests.conftest import require
from tests.evals.conftest import CANDIDATES, SUITE
from tests.evals.parallel import LAUNCH, started_first, workers_of
from tests.graphs.conftest import chat_model
from tests.graphs.scripts import CORRECT, PROBLEM, Router, distinct, r1
from tests.graphs.spread import watch_default_sandbox
from tests.openai_server import ScriptedOpenAIServer

pytestmark = pytest.mark.gpu
EVAL_GPUS = 4  # the suite has eight candidates: up to four GPUs, each surely finds work


@pytest.fixture
def gpus() -> list[int]:
    found = discover_gpus()
    require(f"at least 2 NVIDIA GPUs (NVML finds {len(found)}: {found})", len(found) >= 2,
            "KERNEL_AGENT_REQUIRE_MULTI_GPU")
    return found


def test_search_default_sandbox_verifies_on_every_gpu(gpus, tmp_path, monkeypatch):
    made = watch_default_sandbox(monkeypatch)
    ideas = [f"idea {n}" for n in range(len(gpus))]
    router = Router(lambda _, idea, __: r1(distinct(CORRECT, idea)), ideas)
    with ScriptedOpenAIServer(router) as server:
        result = run_search(PROBLEM, tmp_path / "run", model=chat_model(server),
                            mode="closed_loop", branches=len(gpus), rounds=1,
                            use_memory=False, tune=False)
    assert result.status == "pass", result.error
    assert len(made) == 1
    _, watch = made[0]
    assert [server.gpu for server in watch.servers] == gpus, "one worker per GPU found"
    # Workers are handed out first-in first-out, so K = #GPUs verifications take every GPU
    # once, whether they overlap or not.
    assert Counter(ran.gpu for ran in watch.verifications()) == Counter(gpus)
    assert watch.peak_verifying >= 2, "verifications on different GPUs overlapped"
    assert all(c["verdict"]["device"]["type"] == "cuda" for c in result.candidates)


def test_eval_spreads_problems_over_the_gpus(gpus, tmp_path, monkeypatch):
    chosen = gpus[:EVAL_GPUS]
    monkeypatch.setattr(LAUNCH, "make_sandboxes", started_first)
    launch(EvalOptions(suite=str(SUITE), out=tmp_path / "run", candidates=CANDIDATES,
                       gpus=chosen))
    assert set(workers_of(tmp_path / "run").values()) == {f"gpu{g}" for g in chosen}
