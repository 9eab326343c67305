"""GPU timing the way kernel engineers trust it: CUDA events, warm-up, L2 flushed before every run.

Each run is bracketed by its own pair of events on the current stream, with the L2 flush issued
before the start event so it is never timed. All events are read after one synchronisation, so
the host adds no gaps. The run count is 100, or fewer (not under MIN_RUNS) when a time box would
otherwise overflow: a long kernel's median is as steady over 20-70 runs, and verdicts wait for
every run.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from time import perf_counter
from typing import Any

import torch

from kernel_agent.tools.verdict import Stats

WARMUP_RUNS = 3
TIMED_RUNS = 100
MIN_RUNS = 20


class L2Flusher:
    """Writes a buffer twice the size of L2, evicting whatever the last run left there."""

    def __init__(self, device: torch.device) -> None:
        l2_bytes = getattr(torch.cuda.get_device_properties(device), "L2_cache_size", 0) or 64 << 20
        self.buffer = torch.empty(2 * l2_bytes // 4, dtype=torch.int32, device=device)

    def __call__(self) -> None:
        self.buffer.zero_()


def stats_of(samples_ms: list[float]) -> Stats:
    quartiles = statistics.quantiles(samples_ms, n=4) if len(samples_ms) > 1 else [0, 0, 0]
    return Stats(median_ms=statistics.median(samples_ms), iqr_ms=quartiles[2] - quartiles[0],
                 n=len(samples_ms), min_ms=min(samples_ms))


def time_gpu(fn: Callable[[], Any], flush: L2Flusher, *, runs: int = TIMED_RUNS,
             time_box_s: float = 2.0, after: Callable[[Any], None] | None = None) -> Stats:
    """Median and IQR of `fn` in milliseconds over up to `runs` flushed runs.

    `after`, if given, receives every call's result once its end event is recorded, so what it
    queues on the device (checking the output) is never inside a timed interval.
    """
    after = after or ignore
    for _ in range(WARMUP_RUNS):
        after(fn())
    torch.cuda.synchronize()
    probe_start = perf_counter()
    flush()
    after(fn())
    torch.cuda.synchronize()
    per_run_s = perf_counter() - probe_start
    runs = max(MIN_RUNS, min(runs, int(time_box_s / max(per_run_s, 1e-6))))
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(runs)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(runs)]
    for start, end in zip(starts, ends, strict=True):
        flush()
        start.record()
        result = fn()
        end.record()
        after(result)
    torch.cuda.synchronize()
    return stats_of([s.elapsed_time(e) for s, e in zip(starts, ends, strict=True)])


def ignore(result: Any) -> None:
    """The default `after` hook: results are not looked at."""


def synchronised_wall_ms(fn: Callable[[], Any], repeats: int = 5,
                         after: Callable[[Any], None] = ignore) -> tuple[float, float]:
    """(median event time, median wall time with a device-wide sync) of single calls.

    A candidate that leaves work on another stream finishes early by the events on the current
    stream but not by the wall clock, which waits for the whole device.
    """
    events, walls = [], []
    for _ in range(repeats):
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        began = perf_counter()
        start.record()
        result = fn()
        end.record()
        torch.cuda.synchronize()
        walls.append((perf_counter() - began) * 1e3)
        events.append(start.elapsed_time(end))
        after(result)
    return statistics.median(events), statistics.median(walls)
