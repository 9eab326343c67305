"""Compiled kernels kept on the host between one-shot checks (tools/compiled_store.py)."""

from __future__ import annotations

import base64
import os

import pytest

from kernel_agent.sandbox import one_shot_sandbox
from kernel_agent.tools import compiled_store
from kernel_agent.tools.check import cache_dir, check_files
from kernel_agent.tools.compiled_store import (
    CompiledFilesError,
    CompiledStore,
    pack,
    source_key,
    unpack,
)

from ..conftest import DATA


def entry(data: bytes, mtime: int = 1_700_000_000_123_456_789) -> list:
    return [base64.b64encode(data).decode(), mtime]


def test_files_travel_with_their_bytes_and_times(tmp_path) -> None:
    source = tmp_path / "source"
    (source / "triton" / "ab12").mkdir(parents=True)
    (source / "triton" / "ab12" / "kernel.cubin").write_bytes(b"\x7fELF binary")
    (source / "torch_extensions" / "ext").mkdir(parents=True)
    (source / "torch_extensions" / "ext" / "build.ninja").write_text("rule cxx")
    stamp = 1_600_000_000_123_456_789  # to the nanosecond, as ninja's log has it
    os.utime(source / "torch_extensions" / "ext" / "build.ninja", ns=(stamp, stamp))
    (source / "link").symlink_to("/etc/passwd")
    files = pack(source)
    assert set(files) == {"triton/ab12/kernel.cubin", "torch_extensions/ext/build.ninja"}
    copy = tmp_path / "copy"
    assert unpack(files, copy) == 2
    assert (copy / "triton" / "ab12" / "kernel.cubin").read_bytes() == b"\x7fELF binary"
    assert (copy / "torch_extensions" / "ext" / "build.ninja").stat().st_mtime_ns == stamp
    assert pack(tmp_path / "absent") is None


@pytest.mark.parametrize("name", ["../escape", "/etc/cron.d/job", "a/../../b", "a//b", "",
                                  "a/./b", "new\nline", "spa ce"])
def test_paths_leaving_the_folder_or_odd_are_refused_and_nothing_is_written(tmp_path,
                                                                            name) -> None:
    files = {"fine/first.json": entry(b"{}"), name: entry(b"payload")}
    with pytest.raises(CompiledFilesError):
        unpack(files, tmp_path / "folder")
    assert not (tmp_path / "folder").exists()
    assert not (tmp_path / "escape").exists()


@pytest.mark.parametrize("files", [["a list"], {"a": "not an entry"}, {"a": ["!!", 1.0]},
                                   {"a": [base64.b64encode(b"x").decode(), "a time"]},
                                   {"a": [base64.b64encode(b"x").decode(), 1.5]}])
def test_malformed_files_are_refused(tmp_path, files) -> None:
    with pytest.raises(CompiledFilesError):
        unpack(files, tmp_path)


def test_too_much_is_neither_packed_nor_unpacked(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(compiled_store, "MAX_BYTES", 10)
    (tmp_path / "big").write_bytes(b"x" * 11)
    assert pack(tmp_path) is None
    with pytest.raises(CompiledFilesError, match="MiB"):
        unpack({"big": entry(b"x" * 11)}, tmp_path / "out")


def test_the_store_keeps_one_folder_per_source_and_only_the_most_recent(tmp_path,
                                                                        monkeypatch) -> None:
    monkeypatch.setattr(compiled_store, "KEPT_SOURCES", 2)
    store = CompiledStore(tmp_path)
    for age, text in enumerate(["first source", "second source", "third source"]):
        store.store(text, {"triton/k.json": entry(text.encode())})
        os.utime(tmp_path / source_key(text), (1_000 + age, 1_000 + age))
        store.prune()
    assert store.load("first source") is None
    kept = store.load("third source")
    assert base64.b64decode(kept["triton/k.json"][0]) == b"third source"
    # a task that compiled something new (another GPU, say) replaces what was kept
    store.store("third source", {"triton/other.json": entry(b"later")})
    assert set(store.load("third source")) == {"triton/other.json"}
    for text in ("third source", "fourth source"):  # a refused store changes nothing
        with pytest.raises(CompiledFilesError):
            store.store(text, {"../x": entry(b"x")})
    assert set(store.load("third source")) == {"triton/other.json"}
    assert store.load("fourth source") is None
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_second_check_of_a_cpp_extension_loads_the_kept_build() -> None:
    """Two `kernel-agent check`s of one load_inline candidate, each in a sandbox that dies with
    it: the first builds the extension (tens of seconds) and the host keeps the build; the second
    gets it back and only loads it."""
    problem, candidate = DATA / "scale_add_problem.py", DATA / "scale_add_cpp_extension.py"
    times = []
    for _ in range(2):
        sandbox = one_shot_sandbox()
        try:
            verdict = check_files(problem, candidate, sandbox=sandbox)
        finally:
            sandbox.close()
        # correct, though on a CPU only a Triton kernel counts as the candidate's own work
        assert verdict.correct and verdict.stage == "done", verdict.summary()
        times.append(verdict.phases["load_candidate"])
    kept = CompiledStore(cache_dir() / "compiled").load(candidate.read_text())
    assert kept and any(name.endswith(".so") for name in kept), sorted(kept or [])
    assert times[1] < times[0] / 4, times
