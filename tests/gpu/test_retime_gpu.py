"""Re-timing on a real GPU checks its contenders' outputs: a candidate that computes for its first
calls (enough to pass a verification) and then returns its last answer, or one that answers for
itself in its finalist's process, is reported failed by name, loses the tuner's comparison and
is never selected, however fast it looks. On 16 Mi
elements, with the GPU tests' shared sandbox."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.graph import END, START, StateGraph

from kernel_agent.graphs.context import Context
from kernel_agent.graphs.select import select
from kernel_agent.graphs.state import State
from kernel_agent.sandbox import Sandbox
from kernel_agent.tools.race import FLAG as DISPUTED
from kernel_agent.tools.timed_check import FLAG
from kernel_agent.tools.tune_compare import VARIANT, compare_interleaved

from ..conftest import DATA

pytestmark = pytest.mark.gpu
PROBLEM = DATA / "gpu" / "scale_add_16m_problem.py"
HONEST = DATA / "scale_add_correct.py"
COUNTS_CALLS = DATA / "candidates" / "counts_calls.py"
FORGES_RETIME = DATA / "candidates" / "forges_retime.py"
TOLERANCE = {"atol": 1e-2, "rtol": 1e-2}


def source(path) -> dict[str, str]:
    return {"text": path.read_text(), "path": str(path)}


def test_the_tuner_comparison_names_a_variant_that_is_wrong_while_re_timed(sandbox: Sandbox):
    comparison = compare_interleaved(source(PROBLEM), {**source(HONEST), "tolerance": TOLERANCE},
                                     source(COUNTS_CALLS), sandbox=sandbox)
    assert not comparison.faster and not comparison.measured, comparison.reason
    assert list(comparison.failed) == [VARIANT], comparison.reason
    assert comparison.failed[VARIANT].startswith(f"{FLAG}: ")
    assert "input set" in comparison.failed[VARIANT]


def candidate(path, speedup: float) -> dict[str, Any]:
    return {"id": path.stem, "round": 1, "branch": 0, "idea": "", "path": path.name,
            "code": path.read_text(), "status": "pass", "headline": "", "speedup": speedup,
            "verdict": {"tolerance": TOLERANCE}, "verify_s": 1.0, "model_s": 0.0, "tokens": 0,
            "note": ""}


def test_select_never_chooses_a_finalist_that_is_wrong_while_re_timed(sandbox: Sandbox):
    builder = StateGraph(State, context_schema=Context)
    builder.add_node("select", select)
    builder.add_node("tune", lambda state: {})
    builder.add_edge(START, "select")
    builder.add_edge("tune", END)
    start = {"problem": source(PROBLEM),  # the cheats rank first by their claimed speed
             "candidates": [candidate(FORGES_RETIME, 90.0), candidate(COUNTS_CALLS, 50.0),
                            candidate(HONEST, 1.0)]}
    final = builder.compile().invoke(start, context=Context(sandbox=sandbox))
    retime = final["retime"]
    assert retime["measured"], retime
    assert sorted(retime["failed"]) == ["counts_calls", "forges_retime"], retime
    assert retime["failed"]["counts_calls"]["flag"] == FLAG
    # it answered its rounds with 1 us from its own process; the race timed 20 ms a call
    assert retime["failed"]["forges_retime"]["flag"] == DISPUTED
    assert list(retime["results"]) == ["scale_add_correct"]
    assert final["chosen"]["id"] == "scale_add_correct"
