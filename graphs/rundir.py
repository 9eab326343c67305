"""The run directory: checkpoints, every verified candidate as it is verified, the best kernel.

Layout: `checkpoints.sqlite` (LangGraph's SqliteSaver), `candidates.jsonl` (one line per
verified candidate: code, verdict, diagnosis), `attempts.jsonl` (one line per model call that
failed and per answer without usable code, with the reason), `best_kernel.py`, `report.md`,
`run.json` (thread id and settings, so a run can be resumed from its directory alone),
`workspaces/` (files of the tools a model called). candidates.jsonl doubles as a ledger: a
verify step that finds its candidate there reuses the verdict, so a run killed between
verifying and checkpointing never verifies the same candidate twice."""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from kernel_agent.tools.locks import lock_for
from kernel_agent.tools.sqlite_wal import use_wal

CHECKPOINTS = "checkpoints.sqlite"
CANDIDATES = "candidates.jsonl"
ATTEMPTS = "attempts.jsonl"
BEST_KERNEL = "best_kernel.py"
REPORT = "report.md"
META = "run.json"
BUSY_TIMEOUT_S = 5.0  # sqlite3.connect's own default

class RunDir:
    """One search's directory; safe to share between the branches' threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.lock = lock_for("run_dir", str(self.path.resolve()))

    @property
    def checkpoints(self) -> Path:
        return self.path / CHECKPOINTS

    def open_checkpoints(self) -> sqlite3.Connection:
        """The checkpoint database for LangGraph's SqliteSaver, shared by the branches' threads.
        WAL (SqliteSaver sets it too) with synchronous=NORMAL: a commit survives the process
        being killed, which is what resuming needs, without an fsync per branch step."""
        conn = sqlite3.connect(self.checkpoints, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
        use_wal(conn, BUSY_TIMEOUT_S)
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @property
    def candidates_file(self) -> Path:
        return self.path / CANDIDATES

    def workspace(self, name: str) -> Path:
        folder = self.path / "workspaces" / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def record(self, candidate: dict[str, Any]) -> None:
        """Append one candidate line; a line torn by an earlier kill is closed first.

        Flushed to the OS, which keeps it through a kill of this process (what resuming is
        about); like the checkpoints, it is not synced to disk for power loss.
        """
        self._append(self.candidates_file, candidate)

    @property
    def attempts_file(self) -> Path:
        return self.path / ATTEMPTS

    def record_attempt(self, attempt: dict[str, Any]) -> None:
        """Append one failed attempt (a failed call, an answer without usable code)."""
        self._append(self.attempts_file, attempt)

    def attempts(self) -> list[dict[str, Any]]:
        """Every complete attempt line, in the order written."""
        return _lines(self.attempts_file)

    def _append(self, path: Path, record: dict[str, Any]) -> None:
        line = json.dumps(record) + "\n"
        with self.lock, open(path, "a+b") as f:
            f.seek(0, os.SEEK_END)
            if f.tell():
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    line = "\n" + line
            f.write(line.encode())

    def candidates(self) -> list[dict[str, Any]]:
        """Every complete candidate line, in the order written."""
        return _lines(self.candidates_file)

    def recorded(self, candidate_id: str) -> dict[str, Any] | None:
        """The candidate recorded under `candidate_id`, if any (only its line is parsed)."""
        key = json.dumps({"id": candidate_id})[1:-1]  # lines start with it: '"id": "..."'
        with self.lock:
            try:
                lines = self.candidates_file.read_text().splitlines()
            except FileNotFoundError:
                return None
        for line in lines:
            if line.startswith("{" + key):
                try:
                    return json.loads(line)
                except ValueError:
                    return None  # torn by a kill: not recorded
        return None

    def write(self, name: str, text: str) -> Path:
        """Replace a file atomically, so readers never see half of it; `name` may lie in a
        folder of the run directory (a conversation's `search_2/report.md`)."""
        target = self.path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, target)
        return target

    def read_meta(self) -> dict[str, Any]:
        try:
            return json.loads((self.path / META).read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def write_meta(self, meta: dict[str, Any]) -> None:
        self.write(META, json.dumps(meta, indent=2) + "\n")


def _lines(path: Path) -> list[dict[str, Any]]:
    """The complete JSON lines of `path` ([] when it does not exist)."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    found = []
    for line in lines:
        try:
            found.append(json.loads(line))
        except ValueError:
            continue  # torn by a kill
    return found
