"""SQLite's switch to write-ahead logging, for files that several processes may open at once.

The switch needs the file to itself, and SQLite answers a connection that finds it busy with
"database is locked" at once, without waiting out the connection's busy timeout: processes that
open one new file at the same moment would fail. So the switch waits here instead.
"""

from __future__ import annotations

import sqlite3
import time

RETRY_S = 0.05


def use_wal(conn: sqlite3.Connection, wait_s: float) -> None:
    """`PRAGMA journal_mode=WAL` on `conn`, retried while another process holds the file, for
    at most `wait_s` seconds."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(RETRY_S)
