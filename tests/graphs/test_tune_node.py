"""The tune node off a GPU: nothing is verified and the chosen kernel is left alone. Its GPU
behaviour (a faster correct variant replaces the chosen kernel) is tested in
tests/gpu/test_tuning_gpu.py, on the GPU tests' shared sandbox."""

from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from kernel_agent.graphs.context import Context
from kernel_agent.graphs.tune import tune
from tests.graphs.chosen import chosen_candidate
from tests.graphs.scripts import DATA, PROBLEM, CountingSandbox

BLOCK16 = DATA / "tuning" / "scale_add_block16.py"
OPTIONS = {"trials": 2, "compile_baseline": False}


def test_off_a_gpu_the_chosen_kernel_is_left_alone(sandbox, tmp_path):
    counting = CountingSandbox(sandbox, tmp_path / "verified.log")
    chosen = chosen_candidate(PROBLEM, BLOCK16, sandbox, OPTIONS)
    assert chosen["verdict"]["device"]["type"] == "cpu"
    state: dict[str, Any] = {"problem": {"text": PROBLEM.read_text(), "path": str(PROBLEM)},
                             "chosen": chosen}
    update = tune(state, Runtime(context=Context(sandbox=counting,  # type: ignore[arg-type]
                                                 verifier_options=OPTIONS)))
    assert update == {}
    assert counting.verified() == []
