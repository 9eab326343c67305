"""One lock per key for the whole process, so threads working on the same thing take turns.

Parallel branches run in threads of one process and may reach the same thing at once: a run
directory's records, the first measurement of a problem's reference, the verification of a file
another branch sent too. Each such place names its key (a kind, then what identifies it) and
takes the lock this module keeps for that key.
"""

from __future__ import annotations

import threading

_locks: dict[tuple[str, ...], threading.Lock] = {}
_guard = threading.Lock()


def lock_for(*key: str) -> threading.Lock:
    """The process's lock for `key`, made on first use and kept for the process's life."""
    with _guard:
        return _locks.setdefault(key, threading.Lock())
