"""The comparison kernel (tools/compare_kernel.py), compiled by the judge for itself and for the
candidates' processes.

A candidate's process is new for every verdict and its Triton cache dies with it: compiling the
kernel there would cost about a second per candidate, more than the kernel saves. The judge
lives across a search's verdicts, so it compiles the kernel once, on a thread while the first
candidate's process works, into a folder of its own. It compares with the kernel it holds in
memory, never with one loaded from a file a candidate's process could have written, and sends
the folder's files to every later candidate's process, which loads them instead of compiling.
Until the kernel is ready, and for dtypes it was not compiled for, both compare with torch.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path
from typing import Any

import torch

from kernel_agent.tools.compare import FUSED_DTYPES
from kernel_agent.tools.compiled_store import pack

# The payload's entry holding the judge's compiled files for the candidate's process.
PAYLOAD_KEY = "verifier_files"


class JudgeKernels:
    """What this process compiled of the kernel: the dtypes it is ready for, and its files."""

    def __init__(self) -> None:
        self.ready: set[torch.dtype] = set()
        self.files: dict[str, list[Any]] | None = None
        self.thread: threading.Thread | None = None
        self.folder: str | None = None

    def warm(self, dtypes: Iterable[torch.dtype]) -> None:
        """Compile, on a thread, for whichever of `dtypes` the kernel is not ready for yet."""
        wanted = sorted({d for d in dtypes if d in FUSED_DTYPES} - self.ready, key=str)
        if not wanted or self.busy():
            return
        self.folder = self.folder or tempfile.mkdtemp(prefix="verifier-kernels-")
        self.thread = threading.Thread(target=self.compile, args=(wanted,), daemon=True)
        self.thread.start()

    def compile(self, dtypes: list[torch.dtype]) -> None:
        from kernel_agent.tools.compare_kernel import warm_up

        assert self.folder is not None
        for dtype in dtypes:
            try:
                warm_up(dtype, self.folder)
            except Exception:  # a Triton that cannot build it: torch compares, as before
                break
            self.ready.add(dtype)
        with suppress(OSError):  # a file going while read: the candidates compare with torch
            # with those of earlier dtypes, whose folder the resident process's tidying emptied
            self.files = {**(self.files or {}), **(pack(Path(self.folder)) or {})}

    def busy(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def join(self) -> None:
        """Wait for the compile: it points Triton's cache at the kernel's folder meanwhile, which
        must be over before the verdict's own cache folder is put back."""
        if self.thread is not None:
            self.thread.join()

    def ready_for(self, outputs: list[torch.Tensor]) -> bool:
        """Whether the judge may compare these outputs with the kernel it holds."""
        return not self.busy() and all(t.dtype in self.ready for t in outputs)

    def for_candidates(self) -> dict[str, list[Any]] | None:
        """The compiled files to send to a candidate's process, once there are any."""
        return None if self.busy() else self.files


KERNELS = JudgeKernels()
