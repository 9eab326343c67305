"""Command-line values of `kernel-agent eval`: problem ranges, budgets and GPU lists.

Parsed here rather than in the CLI so the same rules hold for the Python API and the GPU script,
and so a mistyped value fails with a message before any work starts.
"""

from __future__ import annotations

import re

DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(h|m|s)")
CPU_WORDS = {"cpu", "none"}


def parse_ranges(text: str) -> set[int]:
    """`"1-20,35"` -> {1, ..., 20, 35}; the problem numbers a run is limited to."""
    numbers: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        low, dash, high = part.partition("-")
        try:
            first, last = int(low), int(high) if dash else int(low)
        except ValueError:
            raise ValueError(f"bad problem range {part!r}: use numbers like 1-20,35") from None
        if first > last or first < 0:
            raise ValueError(f"bad problem range {part!r}: the range is empty")
        numbers.update(range(first, last + 1))
    if not numbers:
        raise ValueError(f"no problem numbers in {text!r}")
    return numbers


# A week: longer runs are not what a budget is for, and far-off deadlines overflow timers.
MAX_MINUTES = 7 * 1440


def parse_duration(text: str) -> float:
    """`"10m"`, `"90s"`, `"1h30m"` or a bare number of minutes -> minutes."""
    value = text.strip().lower()
    try:
        minutes = float(value)
    except ValueError:
        parts = DURATION.findall(value)
        if not parts or DURATION.sub("", value).strip():
            raise ValueError(f"bad duration {text!r}: use e.g. 10m, 90s, 1h30m") from None
        scale = {"h": 60.0, "m": 1.0, "s": 1 / 60}
        minutes = sum(float(number) * scale[unit] for number, unit in parts)
    if not minutes > 0:  # NaN too
        raise ValueError(f"the duration {text!r} is not positive")
    if minutes > MAX_MINUTES:  # infinity too: no deadline can be set from it
        raise ValueError(f"the duration {text!r} is more than {MAX_MINUTES // 1440} days")
    return minutes


def parse_gpus(text: str | None, found: list[int]) -> list[int]:
    """The GPU indices to spread problems over, one worker per entry: `"0,1"`, `"cpu"` for
    none, None for all found. An index named more than once (`"0,0,0"`) gets that many
    workers, which share the device: how a multi-GPU run is rehearsed on one GPU."""
    if text is None:
        return list(found)
    if text.strip().lower() in CPU_WORDS:
        return []
    try:
        wanted = [int(item) for item in text.split(",") if item.strip()]
    except ValueError:
        raise ValueError(f"bad GPU list {text!r}: use indices like 0,1 or 'cpu'") from None
    if not wanted:
        raise ValueError(f"no GPU indices in {text!r}: use indices like 0,1 or 'cpu'")
    missing = sorted({g for g in wanted if g not in found})
    if missing:
        raise ValueError(f"GPU(s) {missing} not found; this machine has {found or 'none'}")
    return sorted(wanted)
