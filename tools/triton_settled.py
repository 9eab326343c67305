"""Imported by a GPU worker before it forks its task processes (sandbox/pool.py, default_preload):
Triton's key of its own installation, which every compiled kernel's cache key includes, is
computed here once. It is a hash of Triton's compiler sources and of its half-gigabyte library,
0.3-0.4 s of reading, which every forked process (the judge, each candidate's) would otherwise
spend again at its first kernel launch: with a kernel found compiled in the cache too.
"""

import importlib
from collections.abc import Callable


def installation_key() -> Callable[[], str] | None:
    """Triton's cached function for the key, wherever this version keeps it."""
    for module_name in ("triton.runtime.cache", "triton.compiler.compiler"):
        found = getattr(importlib.import_module(module_name), "triton_key", None)
        if found is not None:
            return found
    return None


KEY = installation_key()
if KEY is not None:
    KEY()  # kept by functools.lru_cache, in the memory the forks inherit
