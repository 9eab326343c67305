"""Parsing of --problems, --budget and --gpus, and the worker names a GPU list gives."""

from __future__ import annotations

import pytest

from kernel_agent.evals.options import parse_duration, parse_gpus, parse_ranges
from kernel_agent.evals.runner import worker_name


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
    assert parse_duration("168h") == 7 * 1440  # a week, the longest
    for bad in ("10 minutes", "m", "0m", "-3", "5x", "inf", "nan", "1e9", "169h"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_gpu_lists():
    assert parse_gpus(None, [0, 1, 2]) == [0, 1, 2]
    assert parse_gpus("2,0", [0, 1, 2]) == [0, 2]
    assert parse_gpus("cpu", [0, 1]) == []
    assert parse_gpus(None, []) == []
    with pytest.raises(ValueError, match="not found"):
        parse_gpus("3", [0, 1])
    with pytest.raises(ValueError, match="indices"):
        parse_gpus("first", [0])
    with pytest.raises(ValueError, match="no GPU indices"):
        parse_gpus(" , ", [0])


def test_a_gpu_named_more_than_once_gets_one_worker_per_entry():
    assert parse_gpus("0,0,0", [0]) == [0, 0, 0]
    assert parse_gpus("2,0,2", [0, 1, 2]) == [0, 2, 2]
    with pytest.raises(ValueError, match=r"GPU\(s\) \[3\] not found"):
        parse_gpus("3,0,3", [0])


def test_workers_on_a_repeated_gpu_have_their_own_names():
    assert [worker_name([0, 1], i) for i in range(2)] == ["gpu0", "gpu1"]
    assert [worker_name([0, 0, 0], i) for i in range(3)] == ["gpu0.0", "gpu0.1", "gpu0.2"]
    assert [worker_name([0, 1, 1], i) for i in range(3)] == ["gpu0", "gpu1.0", "gpu1.1"]
