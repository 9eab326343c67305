"""Imported by a GPU worker before it forks its task processes (sandbox/pool.py, default_preload).

- Triton's key of its own installation, which every compiled kernel's cache key includes, is
  computed here once. It is a hash of Triton's compiler sources and of its half-gigabyte library,
  0.3-0.4 s of reading, which every forked process (the judge, each candidate's) would otherwise
  spend again at its first kernel launch: with a kernel found compiled in the cache too.
- Triton's CUDA driver is made here too. Its utilities are a C module that Triton builds with the
  C compiler into its cache on first use (0.3 s) after asking `ldconfig` where libcuda is. A
  candidate's process finds no such build in the compile cache the judge empties after every
  verdict, so each built it again. Making the driver loads the module and libcuda only; CUDA is
  not initialised (that would leave no forked process a usable GPU), so the forks share it.
"""

import importlib
from collections.abc import Callable
from contextlib import suppress


def installation_key() -> Callable[[], str] | None:
    """Triton's cached function for the key, wherever this version keeps it."""
    for module_name in ("triton.runtime.cache", "triton.compiler.compiler"):
        found = getattr(importlib.import_module(module_name), "triton_key", None)
        if found is not None:
            return found
    return None


def settle_driver() -> None:
    """Triton's active driver set to a CUDA driver made now. Triton's own choice of driver asks
    torch whether CUDA is available, which initialises CUDA, so the choice is made here; a
    Triton without these parts makes its driver in each process, as before."""
    import torch

    if torch.cuda.is_initialized():  # not before a fork: this process made its own already
        return
    with suppress(Exception):  # any failure: each process makes its driver, as before
        from triton.backends.nvidia.driver import CudaDriver
        from triton.runtime import driver

        driver.set_active(CudaDriver())


KEY = installation_key()
if KEY is not None:
    KEY()  # kept by functools.lru_cache, in the memory the forks inherit
settle_driver()
