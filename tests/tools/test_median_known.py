"""When the verifier may stop timing early: only once the median is pinned down."""

from __future__ import annotations

import random

from kernel_agent.tools.timing import FIRST_BATCH, median_known


def test_a_steady_kernel_is_known_after_the_first_batch() -> None:
    rng = random.Random(0)
    samples = [1.0 + rng.uniform(-0.002, 0.002) for _ in range(FIRST_BATCH)]
    assert median_known(samples, 0.005)


def test_a_noisy_kernel_is_not_known_after_the_first_batch() -> None:
    rng = random.Random(0)
    samples = [1.0 + rng.uniform(-0.1, 0.1) for _ in range(FIRST_BATCH)]
    assert not median_known(samples, 0.005)


def test_outliers_beyond_the_interval_do_not_keep_it_open() -> None:
    samples = [1.0] * 18 + [5.0, 9.0]  # two slow runs (a context switch) among steady ones
    assert median_known(samples, 0.005)
    assert not median_known([1.0] * 10 + [1.2] * 10, 0.005)  # two modes: the median is unsure
