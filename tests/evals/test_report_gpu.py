"""A report where speed was measured: verdicts shaped as the verifier writes them on a GPU are
stored, and fast_p, geometric means, notes and the speedup figure follow from their timings."""

from __future__ import annotations

import math

import numpy as np
import pytest
from matplotlib.image import imread

from kernel_agent.evals.report import write_report
from kernel_agent.evals.store import Attempt, ResultStore, process_token
from kernel_agent.evals.suites import load_suite, select
from kernel_agent.tools.verdict import Stats, Timing, Verdict

from .conftest import SUITE, read_json

DEVICE = {"type": "cuda", "name": "NVIDIA H200", "torch": "2.13.0", "triton": "3.9.0"}
EAGER_BLUE = np.array([0x15, 0x65, 0xC0]) / 255
# problem -> (speedup over eager, speedup over torch.compile or None if compile failed)
SPEEDUPS = {"level1/1_Scale_add": (2.5, 1.2), "level1/2_ReLU": (0.8, 0.5),
            "level2/1_Add_ReLU": (1.6, None)}


def gpu_verdict(eager: float, compiled: float | None) -> dict:
    candidate = Stats(median_ms=1.0, iqr_ms=0.01, n=100, min_ms=0.99)
    timing = Timing(candidate=candidate,
                    eager=Stats(eager, 0.01, 100, eager),
                    compiled=Stats(compiled, 0.01, 100, compiled) if compiled else None,
                    speedup_eager=eager, speedup_compiled=compiled, baseline_seconds=4.0,
                    compile_error=None if compiled else "torch.compile failed: boom")
    return Verdict(status="pass", stage="done", compiled=True, correct=True, timing=timing,
                   device=DEVICE).to_dict()


@pytest.fixture
def gpu_run(tmp_path):
    problems = select(load_suite(SUITE), None, {1, 2})
    problems = [p for p in problems if p.id in SPEEDUPS]
    store = ResultStore(tmp_path)
    store.create({"settings": {"suite": str(SUITE), "mode": "evaluate"}, "created": "now"},
                 problems, {})
    while (claim := store.claim(process_token(), "gpu0")) is not None:
        verdict = gpu_verdict(*SPEEDUPS[claim.id])
        store.finish(claim.id, "evaluated",
                     attempts=(Attempt(claim.id, 100.0, 106.0, 6.0, verdict),))
    store.close()
    return tmp_path, write_report(tmp_path)


def test_fast_p_and_geomeans_from_measured_speedups(gpu_run):
    run_dir, _ = gpu_run
    report = read_json(run_dir / "report.json")
    head = report["headline"]
    assert head["speed_measured"] is True
    eager, compiled = head["fast_p"]["eager"], head["fast_p"]["compiled"]
    assert [eager[k]["count"] for k in ("fast_0", "fast_1", "fast_1.5", "fast_2")] == [3, 2, 2, 1]
    assert [compiled[k]["count"] for k in ("fast_1", "fast_1.5", "fast_2")] == [1, 0, 0]
    assert head["geomean_speedup"]["eager"] == pytest.approx((2.5 * 0.8 * 1.6) ** (1 / 3))
    assert head["geomean_speedup"]["compiled"] == pytest.approx(math.sqrt(1.2 * 0.5))
    assert head["untimed_correct"] == {"eager": 0, "compiled": 1}
    assert report["run"]["devices"] == ["NVIDIA H200"]
    assert report["run"]["not_measured"] == {}
    rows = {p["id"]: p for p in report["problems"]}
    assert rows["level1/1_Scale_add"]["speedup_eager"] == 2.5
    assert rows["level1/1_Scale_add"]["baseline_s"] == 4.0
    assert all(p["first_correct_s"] == 6.0 for p in rows.values())
    curve = report["scaling_curve"]
    assert curve[-1] == {"minutes": 0.1, "correct": 1.0, "fast_1_eager": pytest.approx(2 / 3),
                         "fast_1_compiled": pytest.approx(1 / 3)}

    markdown = (run_dir / "report.md").read_text()
    for line in ("| fast_1 vs eager | 66.7% (2/3) | 50.0% (1/2) | 100.0% (1/1) |",
                 "| fast_2 vs eager | 33.3% (1/3) | 50.0% (1/2) | 0.0% (0/1) |",
                 "| geomean speedup vs eager | 1.47x | 1.41x | 1.60x |",
                 "| geomean speedup vs torch.compile | 0.77x | 0.77x | - |",
                 "| level1/1_Scale_add | evaluated | yes | yes | 2.50x | 1.20x |"):
        assert line in markdown, line
    assert "1 correct problem(s) have no speedup vs torch.compile" in markdown
    assert "Speed not measured" not in markdown


def test_speedup_figure_plots_the_speedups(gpu_run):
    _, paths = gpu_run
    pixels = imread(paths["figure_speedup"])[..., :3]
    eager_blue = np.all(np.abs(pixels - EAGER_BLUE) < 0.02, axis=-1).sum()
    assert eager_blue > 50, "the eager speedups are drawn"
