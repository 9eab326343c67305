"""Parsing of --problems, --budget and --gpus."""

from __future__ import annotations

import pytest

from kernel_agent.evals.options import parse_duration, parse_gpus, parse_ranges


def test_problem_ranges():
    assert parse_ranges("1-20,35") == set(range(1, 21)) | {35}
    assert parse_ranges(" 3 , 5-6,") == {3, 5, 6}
    for bad in ("", "a-3", "5-2", "1-", "-4"):
        with pytest.raises(ValueError):
            parse_ranges(bad)


def test_durations_are_minutes():
    assert parse_duration("10m") == 10
    assert parse_duration("90s") == 1.5
    assert parse_duration("1h30m") == 90
    assert parse_duration("2.5") == 2.5
    for bad in ("10 minutes", "m", "0m", "-3", "5x"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_gpu_lists():
    assert parse_gpus(None, [0, 1, 2]) == [0, 1, 2]
    assert parse_gpus("2,0,2", [0, 1, 2]) == [0, 2]
    assert parse_gpus("cpu", [0, 1]) == []
    assert parse_gpus(None, []) == []
    with pytest.raises(ValueError, match="not found"):
        parse_gpus("3", [0, 1])
    with pytest.raises(ValueError, match="indices"):
        parse_gpus("first", [0])
