"""The tune node: nothing happens off a GPU or with tuning turned off; on a GPU a faster correct
variant of the chosen kernel replaces it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from kernel_agent.graphs.context import Context
from kernel_agent.graphs.state import Candidate, State
from kernel_agent.graphs.tune import tune
from kernel_agent.sandbox import Sandbox
from kernel_agent.tools.check import verify_sources
from tests.graphs.scripts import DATA, PROBLEM, CountingSandbox

BLOCK16 = DATA / "tuning" / "scale_add_block16.py"
OPTIONS = {"trials": 2, "compile_baseline": False}


def chosen_candidate(problem: Path, sandbox: Sandbox) -> Candidate:
    """The poorly launched kernel, verified for real, as select would hand it over."""
    code = BLOCK16.read_text()
    verdict = verify_sources({"text": problem.read_text(), "path": str(problem)},
                             {"text": code, "path": "round1_branch0.py"}, sandbox=sandbox,
                             **OPTIONS)
    assert verdict.passed, verdict.summary()
    return Candidate(id="r01-b0-block16", round=1, branch=0, idea="one block per program",
                     path="round1_branch0.py", code=code, status=verdict.status, headline="",
                     speedup=verdict.timing.speedup_eager if verdict.timing else None,
                     verdict=verdict.to_dict(), verify_s=verdict.elapsed_s, model_s=0.0,
                     tokens=0, note="")


def test_off_a_gpu_the_chosen_kernel_is_left_alone(sandbox, tmp_path):
    counting = CountingSandbox(sandbox, tmp_path / "verified.log")
    chosen = chosen_candidate(PROBLEM, sandbox)
    assert chosen["verdict"]["device"]["type"] == "cpu"
    state: dict[str, Any] = {"problem": {"text": PROBLEM.read_text(), "path": str(PROBLEM)},
                             "chosen": chosen}
    update = tune(state, Runtime(context=Context(sandbox=counting,  # type: ignore[arg-type]
                                                 verifier_options=OPTIONS)))
    assert update == {}
    assert counting.verified() == []


@pytest.mark.gpu
def test_on_a_gpu_a_faster_variant_replaces_the_chosen_kernel(sandbox, tmp_path):
    problem = DATA / "gpu" / "big_scale_add_problem.py"
    counting = CountingSandbox(sandbox, tmp_path / "verified.log")
    chosen = chosen_candidate(problem, sandbox)
    assert chosen["verdict"]["device"]["type"] == "cuda"
    builder = StateGraph(State, context_schema=Context)
    builder.add_node("tune", tune)
    builder.add_edge(START, "tune")
    builder.add_edge("tune", END)
    graph = builder.compile()
    start = {"problem": {"text": problem.read_text(), "path": str(problem)}, "chosen": chosen}

    off = graph.invoke(start, context=Context(sandbox=counting, tune=False,
                                              verifier_options=OPTIONS))
    assert off["chosen"] == chosen and counting.verified() == []

    events, final = [], None
    for mode, data in graph.stream(start, context=Context(sandbox=counting,
                                                          verifier_options=OPTIONS),
                                   stream_mode=["custom", "values"]):
        if mode == "custom":
            events.append(data)
        else:
            final = data
    assert final is not None
    tuned = final["chosen"]
    assert tuned["id"] == "r01-b0-block16-tuned" and tuned["status"] == "pass"
    assert tuned["code"] != chosen["code"] and tuned["note"].startswith("tuned from r01-b0")
    assert final["candidates"] == [tuned]
    assert [e["id"] for e in events if e["event"] == "new_best"] == [tuned["id"]]
    assert len(counting.verified()) >= 2  # the original again, then its variants
