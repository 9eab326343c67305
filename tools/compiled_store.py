"""Compiled artifacts of a candidate source, kept on the host between processes.

A sandboxed task compiles into a folder of its own, keyed by the candidate's source (Triton's
cache, load_inline's build folders; tools/verify.py, use_compile_caches), and that folder dies
with the task's process. A one-shot `kernel-agent check` would compile the same source again on
every run (about a second for a Triton kernel, tens of seconds for CUDA C++). So the task sends
back what it compiled, the host keeps it per source, and the next task for that source gets it
before the candidate loads.

Files travel in the task's payload and result as {relative path: [base64, mtime in ns]}, through
any backend. The result is written by a process the candidate shares, so the host trusts nothing
in it: paths stay inside the source's own folder, sizes are capped, and the folder is only ever
handed to a task verifying that same source. Modification times travel too, to the nanosecond:
ninja compares them with those in its log to decide that a restored extension needs no rebuild.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import tempfile
from contextlib import suppress
from pathlib import Path
from typing import Any

MAX_BYTES = 64 << 20  # a CUDA extension's build folder fits; a runaway one is not kept
MAX_FILES = 4000
KEPT_SOURCES = 64  # the host keeps the most recently used sources' folders
PART = re.compile(r"[A-Za-z0-9_.+\-]+")


# Past this (the year 2262) a time in nanoseconds is out of range for the platform's time_t.
LATEST_MTIME_NS = 2**63


class CompiledFilesError(ValueError):
    """Files that cannot be kept: a path leaving the folder, a malformed entry, or too much."""


def source_key(text: str) -> str:
    """The folder name of a candidate source, on the host and in the sandbox alike."""
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def file_names(folder: Path) -> dict[str, Path]:
    """The regular files under `folder` (links left out) by relative path: what `pack` would
    send, named without reading them."""
    if not folder.is_dir():
        return {}
    return {path.relative_to(folder).as_posix(): path for path in sorted(folder.rglob("*"))
            if not path.is_symlink() and path.is_file()}


def pack(folder: Path) -> dict[str, list[Any]] | None:
    """Every regular file under `folder` as {relative path: [base64, mtime_ns]}; None when there is
    nothing, or more than MAX_FILES files or MAX_BYTES bytes."""
    files: dict[str, list[Any]] = {}
    total = 0
    for name, path in file_names(folder).items():
        stat = path.stat()
        total += stat.st_size
        if total > MAX_BYTES or len(files) >= MAX_FILES:
            return None
        files[name] = [base64.b64encode(path.read_bytes()).decode(), stat.st_mtime_ns]
    return files or None


def unpack(files: Any, folder: Path) -> int:
    """Write `files` (as `pack` makes them) under `folder`; returns how many. Raises
    CompiledFilesError, having written nothing, for anything but plain relative paths inside it
    within the limits."""
    if not isinstance(files, dict) or len(files) > MAX_FILES:
        raise CompiledFilesError("compiled files: expected a mapping of at most "
                                 f"{MAX_FILES} entries")
    decoded = []
    total = 0
    for name, entry in files.items():
        parts = name.split("/") if isinstance(name, str) else []
        if not parts or any(p in (".", "..") or not PART.fullmatch(p) for p in parts):
            raise CompiledFilesError(f"compiled files: refused path {name!r}")
        if (not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[0], str)
                or not isinstance(entry[1], int) or isinstance(entry[1], bool)
                or not 0 <= entry[1] < LATEST_MTIME_NS):
            raise CompiledFilesError(f"compiled files: malformed entry for {name!r}")
        try:
            data = base64.b64decode(entry[0], validate=True)
        except ValueError:
            raise CompiledFilesError(f"compiled files: {name!r} is not base64") from None
        total += len(data)
        if total > MAX_BYTES:
            raise CompiledFilesError(f"compiled files: more than {MAX_BYTES >> 20} MiB")
        decoded.append((folder.joinpath(*parts), data, entry[1]))
    for path, data, mtime in decoded:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, ns=(mtime, mtime))
    return len(decoded)


class CompiledStore:
    """The host's folders of compiled files, one per candidate source."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def load(self, source_text: str) -> dict[str, list[Any]] | None:
        folder = self.directory / source_key(source_text)
        files = pack(folder)
        if files is not None:
            os.utime(folder)  # recently used: kept longest
        return files

    def store(self, source_text: str, files: Any) -> None:
        """Keep `files` for this source in place of what was kept (raises CompiledFilesError,
        changing nothing, for files it refuses). Only the KEPT_SOURCES most recent stay."""
        folder = self.directory / source_key(source_text)
        self.directory.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=self.directory, prefix=".incoming-"))
        retired = self.directory / f".retired-{staging.name}"
        try:
            unpack(files, staging)
            with suppress(FileNotFoundError):
                os.replace(folder, retired)
            with suppress(OSError):  # another process put its folder in first: it stays
                os.replace(staging, folder)  # readers see the whole folder or none
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(retired, ignore_errors=True)
        self.prune()

    def prune(self) -> None:
        kept = sorted((p for p in self.directory.iterdir()
                       if p.is_dir() and not p.name.startswith(".")),
                      key=lambda p: p.stat().st_mtime, reverse=True)
        for old in kept[KEPT_SOURCES:]:
            shutil.rmtree(old, ignore_errors=True)
