"""Ctrl-C that ends a command at once, for commands whose work is checkpointed.

A KeyboardInterrupt raised inside a running graph first waits for every model call and
verification in flight (minutes). The searches write everything they must keep as they go, so a
kill loses nothing that a resume does not redo; the handler therefore writes straight to the file
descriptors (no locks another thread may hold) and exits with status 130.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

EXIT_INTERRUPTED = 130
SHOW_CURSOR = "\x1b[?25h"


@contextmanager
def exit_at_once_on_interrupt(message: str, *, live: Callable[[], bool] = lambda: False
                              ) -> Iterator[None]:
    """Within the block, SIGINT prints `message` on stderr and exits 130. `live` says whether a
    live terminal display is up, whose hidden cursor must be shown again."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        if live():
            os.write(1, f"\n{SHOW_CURSOR}".encode())
        os.write(2, f"\n{message}\n".encode())
        os._exit(EXIT_INTERRUPTED)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
