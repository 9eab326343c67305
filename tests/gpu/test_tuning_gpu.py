"""The tuner on a real GPU: a correct variant replaces the original only when re-timing the two
interleaved confirms it is faster beyond their spread, in tune_sources and in the graph's tune
node. A poorly launched kernel (16 elements per program, one warp) on 16 Mi elements leaves no
doubt which way the answer goes; few variants and the package's shared sandbox keep it quick."""

from __future__ import annotations

import pytest
from langgraph.graph import END, START, StateGraph

import kernel_agent.graphs.tune as tune_node
from kernel_agent.graphs.context import Context
from kernel_agent.graphs.state import State
from kernel_agent.sandbox import Sandbox
from kernel_agent.tools.tune_compare import ROUNDS, compare_interleaved
from kernel_agent.tools.tuning import tune_sources
from tests.graphs.chosen import chosen_candidate
from tests.graphs.scripts import CountingSandbox
from tests.graphs.streaming import stream_to_end

from ..conftest import DATA

pytestmark = pytest.mark.gpu
PROBLEM = DATA / "gpu" / "scale_add_16m_problem.py"
BLOCK16 = DATA / "tuning" / "scale_add_block16.py"
OPTIONS = {"trials": 2, "compile_baseline": False, "time_box_s": 0.5}


def source(path) -> dict[str, str]:
    return {"text": path.read_text(), "path": str(path)}


def test_the_fastest_correct_variant_wins_when_interleaved_re_timing_confirms_it(
        sandbox: Sandbox):
    result = tune_sources(source(PROBLEM), source(BLOCK16), sandbox=sandbox, max_variants=2,
                          **OPTIONS)
    assert result.device == "cuda"
    rows = result.variants
    assert [row.status for row in rows] == ["pass"] * 3, [row.reason for row in rows]
    assert all(row.median_ms is not None for row in rows)
    assert result.improved, result.reason
    best = result.best_row
    fastest = min(rows[1:], key=lambda row: row.median_ms or 0.0)
    assert result.finalist == best.number == fastest.number != 0
    assert best.verdict is not None and [t.passed for t in best.verdict.trials] == [True] * 2
    comparison = result.comparison
    assert comparison is not None and comparison.measured and comparison.faster
    assert comparison.rounds == ROUNDS == len(comparison.variant_rounds_ms)
    assert comparison.original_ms is not None and comparison.variant_ms is not None
    assert comparison.original_spread_ms is not None and comparison.variant_spread_ms is not None
    assert comparison.original_ms - comparison.variant_ms > max(
        comparison.original_spread_ms, comparison.variant_spread_ms)
    assert comparison.reason in result.reason
    assert result.best == best.text != result.original
    assert result.to_dict()["comparison"]["faster"] is True


def test_a_kernel_re_timed_against_itself_is_not_faster(sandbox: Sandbox):
    text = BLOCK16.read_text()
    comparison = compare_interleaved(source(PROBLEM), {"text": text, "path": "first.py"},
                                     {"text": text + "\n# the same kernel\n",
                                      "path": "second.py"}, sandbox=sandbox)
    assert comparison.measured and not comparison.faster, comparison.reason
    assert comparison.original_ms and comparison.variant_ms
    assert "the original is kept" in comparison.reason


def test_a_faster_variant_replaces_the_chosen_kernel_in_the_graph(
        sandbox: Sandbox, tmp_path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(tune_node, "MAX_VARIANTS", 2)  # BLOCK 16 -> 32 and num_warps 1 -> 2
    counting = CountingSandbox(sandbox, tmp_path / "verified.log")
    chosen = chosen_candidate(PROBLEM, BLOCK16, sandbox, OPTIONS)
    assert chosen["verdict"]["device"]["type"] == "cuda"
    builder = StateGraph(State, context_schema=Context)
    builder.add_node("tune", tune_node.tune)
    builder.add_edge(START, "tune")
    builder.add_edge("tune", END)
    graph = builder.compile()
    start = {"problem": source(PROBLEM), "chosen": chosen}

    off = graph.invoke(start, context=Context(sandbox=counting, tune=False,
                                              verifier_options=OPTIONS))
    assert off["chosen"] == chosen and counting.verified() == []

    final, events = stream_to_end(graph, start, Context(sandbox=counting,
                                                        verifier_options=OPTIONS))
    tuned = final["chosen"]
    assert tuned["id"] == f"{chosen['id']}-tuned" and tuned["status"] == "pass"
    assert tuned["code"] != chosen["code"]
    assert tuned["note"].startswith(f"tuned from {chosen['id']}")
    assert "re-timed interleaved" in tuned["note"]
    assert final["candidates"] == [tuned]
    assert [e["id"] for e in events if e["event"] == "new_best"] == [tuned["id"]]
    assert len(counting.verified()) == 3  # the original again, then its two variants
