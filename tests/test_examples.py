"""Every example kernel passes the verifier on a CPU, under the interpreter with small inputs."""

from __future__ import annotations

import pytest

from kernel_agent.tools.check import check_files

from .conftest import EXAMPLES

EXAMPLE_NAMES = sorted(p.name for p in EXAMPLES.iterdir() if (p / "problem.py").exists())


def test_there_are_examples():
    assert {"relative_position_attention", "alibi_attention", "softcap_attention",
            "sliding_window_attention"} <= set(EXAMPLE_NAMES)


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_example_passes(example):
    verdict = check_files(EXAMPLES / example / "problem.py", EXAMPLES / example / "kernel.py",
                          trials=2)
    assert verdict.status == "pass", verdict.summary()
    assert verdict.flags == []
    assert sum(verdict.custom_kernels["launches"].values()) >= 2
