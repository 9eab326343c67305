"""The run's results in SQLite (`RUN_DIR/results.sqlite`): the one source every report reads.

`problems` holds one row per problem with its state (pending, running, done) and outcome;
`attempts` one row per verified candidate, with its timestamps and the verdict as JSON. A worker
claims a problem in one transaction, so threads and processes sharing a run never take the same
one; WAL mode lets readers (a report, a progress poll) read while workers write. A problem whose
worker died (killed run) is handed out again on resume; one that is done never is.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kernel_agent.evals.suites import SuiteProblem
from kernel_agent.tools.sqlite_wal import use_wal

RESULTS = "results.sqlite"
BUSY_TIMEOUT_S = 60.0
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS problems (
    id TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    level INTEGER,
    number INTEGER NOT NULL,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    candidate TEXT,
    state TEXT NOT NULL DEFAULT 'pending',
    owner TEXT,
    worker TEXT,
    runs INTEGER NOT NULL DEFAULT 0,
    outcome TEXT,
    message TEXT,
    started_at REAL,
    finished_at REAL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    requests INTEGER
);
CREATE TABLE IF NOT EXISTS attempts (
    problem TEXT NOT NULL REFERENCES problems(id),
    attempt INTEGER NOT NULL,
    candidate TEXT NOT NULL,
    started_at REAL,
    finished_at REAL NOT NULL,
    elapsed_s REAL NOT NULL,
    status TEXT NOT NULL,
    compiled INTEGER NOT NULL,
    correct INTEGER,
    speedup_eager REAL,
    speedup_compiled REAL,
    tokens INTEGER,
    verdict TEXT NOT NULL,
    PRIMARY KEY (problem, attempt),
    UNIQUE (problem, candidate)
);
"""
OUTCOMES = ("evaluated", "bad_input", "no_candidate", "error")


@dataclass(frozen=True)
class Attempt:
    """One verified candidate of a problem; `elapsed_s` counts from the problem's start."""

    candidate: str
    started_at: float | None
    finished_at: float
    elapsed_s: float
    verdict: dict[str, Any]
    tokens: int | None = None


@dataclass(frozen=True)
class Claim:
    """A problem handed to one worker."""

    id: str
    path: Path
    candidate: Path | None
    started_at: float
    runs: int
    note: str = ""  # without a candidate: where one was looked for


def process_token(pid: int | None = None) -> str | None:
    """host:pid:start-time of a live process (None if gone): a pid alone may have been reused."""
    pid = os.getpid() if pid is None else pid
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    if len(fields) < 20 or fields[0] in ("Z", "X"):  # a zombie has finished its work
        return None
    return f"{socket.gethostname()}:{pid}:{fields[19]}"


def owner_alive(owner: str) -> bool:
    host, pid, _ = owner.rsplit(":", 2)
    if host != socket.gethostname():
        return True  # another machine's worker: not ours to judge
    return process_token(int(pid)) == owner


class ResultStore:
    """One connection to the results file; open one per thread."""

    def __init__(self, run_dir: Path, *, create: bool = True) -> None:
        self.path = Path(run_dir) / RESULTS
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif not self.path.is_file():
            raise FileNotFoundError(f"no {RESULTS} in {run_dir}: not an eval run directory")
        self.conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        use_wal(self.conn, BUSY_TIMEOUT_S)
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(SCHEMA)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE: the write lock is taken up front, so two claims never interleave."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # -- set-up --------------------------------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        return {row["key"]: json.loads(row["value"])
                for row in self.conn.execute("SELECT key, value FROM meta")}

    def create(self, meta: dict[str, Any], problems: list[SuiteProblem],
               candidates: dict[str, Path], notes: dict[str, str] | None = None) -> None:
        """Record the run's settings and its problems, all pending; `notes` says, for a
        problem without a candidate, where one was looked for (its claim carries it)."""
        notes = notes or {}
        with self.transaction() as conn:
            conn.executemany("INSERT INTO meta VALUES (?, ?)",
                             [(k, json.dumps(v)) for k, v in meta.items()])
            conn.executemany(
                "INSERT INTO problems (id, position, level, number, name, path, sha256, candidate,"
                " message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(p.id, i, p.level, p.number, p.name, str(p.path), p.sha256(),
                  str(candidates[p.id]) if p.id in candidates else None, notes.get(p.id))
                 for i, p in enumerate(problems)])

    def recover(self) -> list[str]:
        """Hand back problems whose worker process is gone; their ids, for the log."""
        with self.transaction() as conn:
            running = conn.execute("SELECT id, owner FROM problems WHERE state = 'running'")
            lost = [row["id"] for row in running.fetchall()
                    if not row["owner"] or not owner_alive(row["owner"])]
            conn.executemany("UPDATE problems SET state = 'pending', owner = NULL WHERE id = ?",
                             [(i,) for i in lost])
        return lost

    # -- workers -------------------------------------------------------------------------------

    def claim(self, owner: str, worker: str) -> Claim | None:
        """The next pending problem, now running for `owner`; None when none is left."""
        with self.transaction() as conn:
            row = conn.execute("SELECT id FROM problems WHERE state = 'pending' "
                               "ORDER BY position LIMIT 1").fetchone()
            if row is None:
                return None
            row = conn.execute(
                "UPDATE problems SET state = 'running', owner = ?, worker = ?, runs = runs + 1, "
                "started_at = COALESCE(started_at, ?) WHERE id = ? "
                "RETURNING id, path, candidate, started_at, runs, message",
                (owner, worker, time.time(), row["id"])).fetchone()
        return Claim(row["id"], Path(row["path"]),
                     Path(row["candidate"]) if row["candidate"] else None,
                     row["started_at"], row["runs"], row["message"] or "")

    def add_attempt(self, problem: str, attempt: Attempt) -> bool:
        """Record one attempt unless this candidate is already recorded; True if added."""
        with self.transaction() as conn:
            return self._insert(conn, problem, attempt)

    def finish(self, problem: str, outcome: str, message: str = "",
               attempts: tuple[Attempt, ...] = (), usage: dict[str, int] | None = None,
               worker: str | None = None) -> None:
        """Mark a problem done, with its last attempts, in one transaction; `worker` names
        where it ran when the claim could not know (a Ray task is placed after its claim)."""
        assert outcome in OUTCOMES, outcome
        with self.transaction() as conn:
            for attempt in attempts:
                self._insert(conn, problem, attempt)
            conn.execute(
                "UPDATE problems SET state = 'done', outcome = ?, message = ?, finished_at = ?, "
                "owner = NULL, worker = COALESCE(?, worker) WHERE id = ?",
                (outcome, message, time.time(), worker, problem))
            if usage is not None:
                self._set_usage(conn, problem, usage)

    def set_usage(self, problem: str, usage: dict[str, int]) -> None:
        """The model usage of a problem so far (prompt_tokens, completion_tokens, requests)."""
        self._set_usage(self.conn, problem, usage)

    def usage(self, problem: str) -> dict[str, int]:
        row = self.conn.execute("SELECT prompt_tokens, completion_tokens, requests FROM problems "
                                "WHERE id = ?", (problem,)).fetchone()
        return {key: row[key] or 0 for key in ("prompt_tokens", "completion_tokens", "requests")}

    def release(self, problem: str) -> None:
        """Give an unfinished problem back (the run was interrupted)."""
        self.conn.execute("UPDATE problems SET state = 'pending', owner = NULL "
                          "WHERE id = ? AND state = 'running'", (problem,))

    def release_owner(self, owner: str) -> None:
        """Give back every problem `owner` still holds (its run was interrupted)."""
        self.conn.execute("UPDATE problems SET state = 'pending', owner = NULL "
                          "WHERE owner = ? AND state = 'running'", (owner,))

    @staticmethod
    def _set_usage(conn: sqlite3.Connection, problem: str, usage: dict[str, int]) -> None:
        conn.execute(
            "UPDATE problems SET prompt_tokens = ?, completion_tokens = ?, requests = ? "
            "WHERE id = ?", (usage["prompt_tokens"], usage["completion_tokens"],
                             usage["requests"], problem))

    @staticmethod
    def _insert(conn: sqlite3.Connection, problem: str, attempt: Attempt) -> bool:
        verdict = attempt.verdict
        timing = verdict.get("timing") or {}
        number = conn.execute("SELECT COUNT(*) FROM attempts WHERE problem = ?",
                              (problem,)).fetchone()[0]
        cursor = conn.execute(
            "INSERT OR IGNORE INTO attempts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (problem, number, attempt.candidate, attempt.started_at, attempt.finished_at,
             attempt.elapsed_s, verdict["status"], int(bool(verdict.get("compiled"))),
             None if verdict.get("correct") is None else int(verdict["correct"]),
             timing.get("speedup_eager"), timing.get("speedup_compiled"), attempt.tokens,
             json.dumps(verdict)))
        return cursor.rowcount == 1

    # -- readers -------------------------------------------------------------------------------

    def problem_rows(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute("SELECT * FROM problems ORDER BY position")]

    def attempt_rows(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute(
            "SELECT attempts.* FROM attempts JOIN problems ON problems.id = attempts.problem "
            "ORDER BY problems.position, attempts.attempt")]

    def counts(self) -> dict[str, int]:
        """Problems per state, and how many of the done ones passed."""
        counts = {state: n for state, n in self.conn.execute(
            "SELECT state, COUNT(*) FROM problems GROUP BY state")}
        counts["passed"] = self.conn.execute(
            "SELECT COUNT(DISTINCT problem) FROM attempts JOIN problems ON id = problem "
            "WHERE attempts.status = 'pass' AND problems.state = 'done'").fetchone()[0]
        return counts
