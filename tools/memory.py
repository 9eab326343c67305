"""Kernel memory: every verified kernel, kept in one SQLite file and found again by problem.

A kernel that passed the verifier is remembered with the problem's fingerprint (exact match) and
family (similar problems), its speedups, the GPU and library versions it was verified with, and
where it came from. Several processes (parallel searches, eval workers) may write at once: the
file is in WAL mode, every write is one short `BEGIN IMMEDIATE` transaction that waits its turn
(busy timeout), and an entry is unique on fingerprint + kernel source + GPU, so remembering twice
is harmless. Export and import use JSON Lines, one kernel a line.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from kernel_agent.sandbox import Sandbox, get_sandbox
from kernel_agent.tools.check import cache_dir
from kernel_agent.tools.fingerprint import (
    Fingerprint,
    FingerprintError,
    fingerprint_problem,
    problem_name,
)
from kernel_agent.tools.memory_record import (
    MemoryEntry,
    RecordError,
    build_entry,
    entry_from_line,
    passing_verdict,
)
from kernel_agent.tools.sqlite_wal import use_wal

SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 60.0
COLUMNS = ("fingerprint", "family", "problem_name", "problem_source", "signature", "backend",
           "source", "source_sha256", "verdict", "speedup_eager", "speedup_compiled", "gpu",
           "versions", "created", "origin")
JSON_COLUMNS = ("signature", "verdict", "versions")
SCHEMA = ("""
CREATE TABLE IF NOT EXISTS kernels (
    id INTEGER PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    family TEXT NOT NULL,
    problem_name TEXT NOT NULL,
    problem_source TEXT NOT NULL,
    signature TEXT,
    backend TEXT NOT NULL,
    source TEXT NOT NULL,
    source_sha256 TEXT NOT NULL,
    verdict TEXT NOT NULL,
    speedup_eager REAL,
    speedup_compiled REAL,
    gpu TEXT NOT NULL,
    versions TEXT NOT NULL,
    created TEXT NOT NULL,
    origin TEXT NOT NULL,
    UNIQUE (fingerprint, source_sha256, gpu)
)""", "CREATE INDEX IF NOT EXISTS kernels_family ON kernels (family)",
          "CREATE TABLE IF NOT EXISTS seeds (digest TEXT PRIMARY KEY, imported TEXT NOT NULL)")
# Fastest measured first (unmeasured last), then newest.
# The examples' verified kernels, shipped with the package (examples/build_seed_memory.py).
SEED_FILE = Path(__file__).with_name("seed_memory.jsonl")
BEST_FIRST = "ORDER BY speedup_eager IS NULL, speedup_eager DESC, created DESC, id DESC"


class KernelMemoryError(Exception):
    """The memory file cannot be used, or a kernel cannot be remembered: the message says why."""


class MemoryImportError(KernelMemoryError):
    """An import file with bad lines; nothing of it was written."""

    def __init__(self, path: str | Path, problems: list[tuple[int, str]]) -> None:
        self.problems = problems
        lines = "\n".join(f"  line {number}: {why}" for number, why in problems)
        super().__init__(f"{path}: {len(problems)} bad line(s), nothing imported:\n{lines}")


@dataclass(frozen=True)
class ImportCounts:
    new: int
    present: int


def default_path() -> Path:
    """KERNEL_AGENT_MEMORY, else memory.sqlite in kernel-agent's cache folder."""
    override = os.environ.get("KERNEL_AGENT_MEMORY")
    return Path(override) if override else cache_dir() / "memory.sqlite"


class KernelMemory:
    """The store. Problem fingerprints need the problem's input signature, computed in a sandbox:
    pass one to share it, or the memory starts a local one when first needed (and `close` ends
    it). Fingerprints are cached per problem text for the memory's lifetime."""

    def __init__(self, path: str | Path | None = None, *, sandbox: Sandbox | None = None,
                 seed: bool = False) -> None:
        """`seed`: add the shipped seed kernels (once per seed file version), as a user's own
        memory does; stores made for one job (tests, a team export) stay as they are."""
        self.path = Path(path) if path is not None else default_path()
        self._sandbox, self._own_sandbox = sandbox, sandbox is None
        self._fingerprints: dict[str, Fingerprint] = {}
        self._fingerprint_lock = threading.Lock()  # one sandbox, even for threads sharing this
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._create_schema()
        except (OSError, sqlite3.Error) as exc:
            raise KernelMemoryError(f"kernel memory {self.path} cannot be opened: {exc}") from None
        if seed:
            self.import_seed()

    def __enter__(self) -> KernelMemory:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """End the sandbox the memory started, if any (the database needs no closing)."""
        with self._fingerprint_lock:
            if self._own_sandbox and self._sandbox is not None:
                self._sandbox.close()
                self._sandbox = None

    # -- fingerprints ----------------------------------------------------------------------

    def fingerprint(self, problem_source: str) -> Fingerprint:
        with self._fingerprint_lock:
            if problem_source not in self._fingerprints:
                if self._sandbox is None:
                    self._sandbox = get_sandbox("local")
                try:
                    found = fingerprint_problem(problem_source, self._sandbox)
                except FingerprintError as exc:
                    raise KernelMemoryError(str(exc)) from None
                self._fingerprints[problem_source] = found
            return self._fingerprints[problem_source]

    # -- writing ---------------------------------------------------------------------------

    def remember(self, problem_source: str, candidate_source: str, verdict: dict[str, Any],
                 origin: str, *, name: str | None = None,
                 fingerprint: Fingerprint | None = None) -> int:
        """Store a passing kernel and return its id; the same kernel again returns the same id.

        `fingerprint` is the problem's (`KernelMemory.fingerprint`), for a caller that computed
        it once and hands it to other processes, so that no sandbox work is repeated."""
        try:
            device = passing_verdict(verdict).device
        except RecordError as exc:
            raise KernelMemoryError(str(exc)) from None
        fingerprint = fingerprint or self.fingerprint(problem_source)
        versions = {"torch": device.get("torch"), "triton": device.get("triton"),
                    "python": platform.python_version()}
        try:
            entry = build_entry(
                problem_source, fingerprint, candidate_source, verdict,
                name=name or problem_name(problem_source) or f"problem {fingerprint.digest[4:16]}",
                versions=versions, created=datetime.now(UTC).isoformat(), origin=origin)
        except RecordError as exc:
            raise KernelMemoryError(str(exc)) from None
        with self._transaction(write=True) as conn:
            return insert(conn, entry)[0]

    def import_(self, path: str | Path, origin: str = "import") -> ImportCounts:
        """Add the kernels of a JSON Lines export. Every line is checked first: one bad line and
        nothing is written (MemoryImportError lists the bad lines by number)."""
        try:
            raw_lines = Path(path).read_bytes().splitlines()
        except OSError as exc:
            raise KernelMemoryError(f"cannot read {path}: {exc.strerror or exc}") from None
        entries, problems = [], []
        for number, raw in enumerate(raw_lines, start=1):
            if not raw.strip():
                continue
            try:
                entries.append(entry_from_line(raw, origin))
            except RecordError as exc:
                problems.append((number, str(exc)))
        if problems:
            raise MemoryImportError(path, problems)
        with self._transaction(write=True) as conn:
            new = sum(insert(conn, entry)[1] for entry in entries)
        return ImportCounts(new=new, present=len(entries) - new)

    def import_seed(self, path: Path = SEED_FILE) -> None:
        """Import a seed file unless this version of it was imported before."""
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        with self._transaction(write=False) as conn:
            if conn.execute("SELECT 1 FROM seeds WHERE digest = ?", (digest,)).fetchone():
                return
        self.import_(path, origin="seed")
        with self._transaction(write=True) as conn:
            conn.execute("INSERT OR IGNORE INTO seeds VALUES (?, ?)",
                         (digest, datetime.now(UTC).isoformat()))

    # -- reading ---------------------------------------------------------------------------

    def lookup_exact(self, problem_source: str) -> list[MemoryEntry]:
        """Kernels for exactly this problem, best first."""
        digest = self.fingerprint(problem_source).digest
        return self._select(f"WHERE fingerprint = ? {BEST_FIRST}", (digest,))

    def similar(self, problem_source: str, limit: int = 10) -> list[MemoryEntry]:
        """Kernels for other problems of the same family, best first."""
        fingerprint = self.fingerprint(problem_source)
        return self._select(f"WHERE family = ? AND fingerprint != ? {BEST_FIRST} LIMIT ?",
                            (fingerprint.family, fingerprint.digest, limit))

    def list(self) -> list[MemoryEntry]:
        """Every kernel, newest first."""
        return self._select("ORDER BY id DESC", ())

    def get(self, entry_id: int) -> MemoryEntry | None:
        found = self._select("WHERE id = ?", (entry_id,))
        return found[0] if found else None

    def count(self) -> int:
        with self._transaction(write=False) as conn:
            return conn.execute("SELECT count(*) FROM kernels").fetchone()[0]

    def export(self, path: str | Path) -> int:
        """Write every kernel, oldest first, as JSON Lines; the file is replaced atomically."""
        target = Path(path)
        entries = self._select("ORDER BY id", ())
        try:
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                       suffix=".tmp")
        except OSError as exc:
            raise KernelMemoryError(f"cannot write {path}: {exc.strerror or exc}") from None
        try:
            with os.fdopen(fd, "w") as out:
                for entry in entries:
                    out.write(json.dumps(entry.to_line(), sort_keys=True) + "\n")
            os.replace(tmp, target)
        except BaseException:
            os.unlink(tmp)
            raise
        return len(entries)

    # -- SQLite ----------------------------------------------------------------------------

    def _create_schema(self) -> None:
        """Make or check the schema; processes opening one new file at once all get it."""
        with self._connection() as conn:
            use_wal(conn, BUSY_TIMEOUT_S)
            conn.execute("BEGIN IMMEDIATE")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                conn.execute("ROLLBACK")
                raise KernelMemoryError(
                    f"kernel memory {self.path} has schema {version}, newer than this "
                    f"kernel-agent reads ({SCHEMA_VERSION}); upgrade kernel-agent")
            for statement in SCHEMA:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[sqlite3.Connection]:
        """One short transaction; writers take the write lock at once so none can deadlock."""
        with self._connection() as conn:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _select(self, where: str, args: tuple[Any, ...]) -> list[MemoryEntry]:
        with self._transaction(write=False) as conn:
            rows = conn.execute(f"SELECT * FROM kernels {where}", args).fetchall()
        return [row_entry(row) for row in rows]


def insert(conn: sqlite3.Connection, entry: MemoryEntry) -> tuple[int, bool]:
    """(id, whether it is new): an entry already present keeps its id and its first record."""
    values = [json.dumps(getattr(entry, c)) if c in JSON_COLUMNS else getattr(entry, c)
              for c in COLUMNS]
    cursor = conn.execute(
        f"INSERT INTO kernels ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
        "ON CONFLICT (fingerprint, source_sha256, gpu) DO NOTHING", values)
    if cursor.rowcount:
        assert cursor.lastrowid is not None
        return cursor.lastrowid, True
    row = conn.execute("SELECT id FROM kernels WHERE fingerprint = ? AND source_sha256 = ? "
                       "AND gpu = ?", (entry.fingerprint, entry.source_sha256, entry.gpu)
                       ).fetchone()
    return row[0], False


def row_entry(row: sqlite3.Row) -> MemoryEntry:
    data = {c: json.loads(row[c]) if c in JSON_COLUMNS else row[c] for c in COLUMNS}
    return MemoryEntry(id=row["id"], **data)


def recall(problem_source: str, memory: KernelMemory, limit: int = 5
           ) -> tuple[list[MemoryEntry], list[MemoryEntry]]:
    """What memory knows for a problem: (kernels for exactly it, kernels for similar ones),
    each best first, at most `limit` of each."""
    return memory.lookup_exact(problem_source)[:limit], memory.similar(problem_source, limit)
