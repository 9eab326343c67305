"""Kernel memory: fingerprints, store and lookup, export/import, and concurrent writers."""

from __future__ import annotations

import json
import multiprocessing
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kernel_agent.sandbox import Sandbox, get_sandbox
from kernel_agent.tools.check import verify_sources
from kernel_agent.tools.fingerprint import Fingerprint, fingerprint_problem, forward_ops
from kernel_agent.tools.memory import (
    ImportCounts,
    KernelMemory,
    KernelMemoryError,
    MemoryImportError,
    default_path,
    recall,
)
from kernel_agent.tools.memory_record import detect_backend
from tests.conftest import DATA
from tests.tools.memory_data import scale_add, timed, variant

CORRECT = (DATA / "scale_add_correct.py").read_text()

REFORMATTED = '''"""A different docstring, which is no part of the identity."""
import torch
from torch import nn
# comments come and go
KERNEL_AGENT = {
    "request": "Double x, then add b, element by element.",  # other prose
    "name": "scale-add",
    "atol": 0.001,
    "dtype": "float32",
}
class Model(nn.Module):
    """Docstrings go too."""
    def forward(self, x, b):
        return (2*x) + b   # same expression, other layout
def get_inputs():
    return [
        torch.randn(64, 128),
        torch.randn(64, 128),
    ]
def get_init_inputs():
    return []
'''


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """A local sandbox whose workers import what the meta device needs once (sympy, through
    torch's symbolic shapes): otherwise each signature task pays seconds for that import."""
    shared = get_sandbox("local", preload=("torch", "torch._meta_registrations",
                                           "torch.fx.experimental.symbolic_shapes"))
    yield shared
    shared.close()


@pytest.fixture(scope="module")
def verdict(sandbox: Sandbox) -> dict[str, Any]:
    """A real passing verdict, from the verifier, for the problem these tests remember."""
    result = verify_sources({"text": scale_add(), "path": "scale_add.py"},
                            {"text": CORRECT, "path": "scale_add_correct.py"},
                            sandbox=sandbox, trials=2)
    assert result.status == "pass", result.summary()
    return result.to_dict()


@pytest.fixture
def memory(tmp_path: Path, sandbox: Sandbox) -> KernelMemory:
    return KernelMemory(tmp_path / "memory.sqlite", sandbox=sandbox)


def test_fingerprint_ignores_layout_and_prose_but_not_shapes_ops_or_tolerance(sandbox: Sandbox):
    base = fingerprint_problem(scale_add(), sandbox)
    assert base.basis == "source+inputs" and base.note == ""
    assert base.signature == {"inputs": [{"shape": [64, 128], "dtype": "float32"}] * 2,
                              "init_inputs": []}
    assert base.family == "add+mul|2,2"
    assert fingerprint_problem(REFORMATTED, sandbox) == base

    wider = fingerprint_problem(scale_add("64, 256"), sandbox)
    assert wider.digest != base.digest and wider.family == base.family
    flat = fingerprint_problem(scale_add("8192"), sandbox)
    assert flat.digest != base.digest and flat.family == "add+mul|1,1"
    minus = fingerprint_problem(scale_add().replace("2 * x + b", "2 * x - b"), sandbox)
    assert minus.digest != base.digest and minus.family == "mul+sub|2,2"
    looser = fingerprint_problem(scale_add().replace("1e-3", "1e-2"), sandbox)
    assert looser.digest != base.digest and looser.family == base.family


def test_huge_inputs_cost_nothing_and_unusable_ones_fall_back_to_source(sandbox: Sandbox):
    # 2**40 float32 elements (4 TiB) per input: only the meta device can describe them.
    huge = fingerprint_problem(scale_add("1 << 20, 1 << 20"), sandbox)
    assert huge.signature is not None
    assert huge.signature["inputs"][0] == {"shape": [1 << 20, 1 << 20], "dtype": "float32"}

    data_dependent = scale_add().replace(
        "    return [torch.randn(64, 128), torch.randn(64, 128)]",
        "    n = int(torch.randint(60, 70, (1,)).item())\n"
        "    return [torch.randn(n, 128), torch.randn(n, 128)]")
    fallback = fingerprint_problem(data_dependent, sandbox)
    assert fallback.basis == "source" and fallback.signature is None
    assert "meta" in fallback.note and "get_inputs() raised" in fallback.note
    assert fallback.family == "add+mul|?"
    assert fingerprint_problem(data_dependent, sandbox).digest == fallback.digest


def test_family_follows_helpers_and_held_modules():
    source = '''
import torch
from torch import nn
import torch.nn.functional as F

def activation(x):
    return F.gelu(x)

class Model(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.proj = nn.Sequential(nn.Linear(n, n), nn.LayerNorm(n))
        self.scale = nn.Parameter(torch.ones(n))

    def _scaled(self, x):
        return x * self.scale

    def forward(self, x):
        y = self.proj(x.contiguous())
        return activation(self._scaled(y)).sum(dim=-1)

def get_inputs():
    return [torch.randn(4, 8)]

def get_init_inputs():
    return [8]
'''
    assert forward_ops(source) == ("gelu", "layernorm", "linear", "mul", "sum")


def test_remember_lookup_best_first_and_similar(memory: KernelMemory, verdict: dict[str, Any]):
    problem = scale_add()
    slow = memory.remember(problem, variant(CORRECT, 1), timed(verdict, 1.5), "runs/a")
    unmeasured = memory.remember(problem, variant(CORRECT, 2), verdict, "seed")
    fast = memory.remember(problem, variant(CORRECT, 3), timed(verdict, 3.0), "runs/b")
    newer_unmeasured = memory.remember(problem, variant(CORRECT, 4), verdict, "runs/c")
    assert len({slow, unmeasured, fast, newer_unmeasured}) == 4

    exact = memory.lookup_exact(problem)
    assert [e.id for e in exact] == [fast, slow, newer_unmeasured, unmeasured]
    best = exact[0]
    assert (best.speedup_eager, best.speedup_compiled) == (3.0, 1.5)
    assert best.gpu == "NVIDIA H100 80GB HBM3" and best.backend == "triton"
    assert best.versions["torch"] == verdict["device"]["torch"] and best.versions["python"]
    assert exact[-1].gpu == "cpu" and exact[-1].speedup_eager is None
    assert best.problem_name == "Scale x by two and add b."
    assert memory.get(fast) == best and memory.get(10_000) is None

    # The same kernel again (same problem, source and GPU) is the same entry ...
    assert memory.remember(REFORMATTED, variant(CORRECT, 3), timed(verdict, 9.9), "x") == fast
    assert memory.count() == 4
    # ... while the same source verified on another GPU is another.
    other_gpu = memory.remember(problem, variant(CORRECT, 3), timed(verdict, 2.0, "NVIDIA L4"),
                                "runs/d")
    assert other_gpu not in {slow, unmeasured, fast, newer_unmeasured}

    wider = scale_add("64, 256")
    assert memory.lookup_exact(wider) == []
    assert [e.id for e in memory.similar(wider, limit=2)] == [fast, other_gpu]
    exact_wider, similar_wider = recall(wider, memory)
    assert exact_wider == [] and similar_wider[0].id == fast
    exact_here, similar_here = recall(problem, memory)
    assert exact_here[0].id == fast and similar_here == []  # exact kernels are not "similar"
    assert memory.similar(scale_add("8192")) == []  # another rank, another family
    assert [e.id for e in memory.list()][:2] == [other_gpu, newer_unmeasured]


def test_refuses_what_is_not_a_passing_kernel(memory: KernelMemory, verdict: dict[str, Any]):
    failing = {**verdict, "status": "fail", "stage": "correctness"}
    with pytest.raises(KernelMemoryError, match=r"only passing kernels.*'fail'"):
        memory.remember(scale_add(), CORRECT, failing, "runs/a")
    with pytest.raises(KernelMemoryError, match="not a verifier verdict"):
        memory.remember(scale_add(), CORRECT, {"status": "pass", "speed": 3}, "runs/a")
    with pytest.raises(KernelMemoryError, match="no class Model"):
        memory.remember("import torch\n", CORRECT, verdict, "runs/a")
    with pytest.raises(KernelMemoryError, match="origin"):
        memory.remember(scale_add(), CORRECT, verdict, "")
    assert memory.count() == 0


def test_backend_is_read_from_the_source():
    assert detect_backend(CORRECT) == "triton"
    assert detect_backend((DATA / "tools" / "cuda_copy.py").read_text()) == "cuda"
    assert detect_backend("import torch\n") == "other"


def test_export_import_round_trip(memory: KernelMemory, verdict: dict[str, Any],
                                  tmp_path: Path, sandbox: Sandbox):
    problem, wider = scale_add(), scale_add("64, 256")
    memory.remember(problem, variant(CORRECT, 1), timed(verdict, 1.5), "runs/a")
    memory.remember(problem, variant(CORRECT, 2), timed(verdict, 2.5), "runs/a")
    memory.remember(wider, variant(CORRECT, 3), verdict, "seed")
    exported = tmp_path / "kernels.jsonl"
    assert memory.export(exported) == 3
    lines = [json.loads(line) for line in exported.read_text().splitlines()]
    assert len(lines) == 3 and all(line["format"] == 1 for line in lines)

    other = KernelMemory(tmp_path / "other.sqlite", sandbox=sandbox)
    assert other.import_(exported) == ImportCounts(new=3, present=0)
    assert other.import_(exported) == ImportCounts(new=0, present=3)
    assert memory.import_(exported) == ImportCounts(new=0, present=3)
    for mine, theirs in zip(memory.lookup_exact(problem), other.lookup_exact(problem),
                            strict=True):
        assert theirs.origin == "import" and mine.origin == "runs/a"
        assert theirs.to_line() == mine.to_line()
        assert (theirs.fingerprint, theirs.family, theirs.speedup_eager, theirs.gpu) == (
            mine.fingerprint, mine.family, mine.speedup_eager, mine.gpu)
    assert [e.source for e in other.similar(problem)] == [variant(CORRECT, 3)]


def test_import_reports_bad_lines_and_writes_nothing(memory: KernelMemory,
                                                     verdict: dict[str, Any], tmp_path: Path):
    memory.remember(scale_add(), CORRECT, verdict, "seed")
    exported = tmp_path / "one.jsonl"
    memory.export(exported)
    good = json.loads(exported.read_text())
    failing = {**good, "verdict": {**good["verdict"], "status": "fail"}}
    missing = {k: v for k, v in good.items() if k != "source"}
    broken_problem = {**good, "problem_source": "class Model(:\n"}
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([json.dumps(good), "{not json", json.dumps(failing), "",
                              json.dumps(missing), json.dumps(broken_problem),
                              json.dumps({**good, "format": 7})]) + "\n")

    fresh = KernelMemory(tmp_path / "fresh.sqlite")
    with pytest.raises(MemoryImportError) as caught:
        fresh.import_(bad)
    problems = dict(caught.value.problems)
    assert sorted(problems) == [2, 3, 5, 6, 7]
    assert "not JSON" in problems[2]
    assert "only passing kernels" in problems[3]
    assert "missing field(s) source" in problems[5]
    assert "does not parse: line 1" in problems[6]
    assert "format 7" in problems[7]
    assert "line 5: missing field(s) source" in str(caught.value)
    assert fresh.count() == 0  # not even the good first line


def write_many(path: str, problem: str, fingerprint: Fingerprint, verdict: dict[str, Any],
               worker: int, count: int, shared: int, start: Any, ids: Any) -> None:
    """One writer process: `count` kernels of its own and `shared` that every writer stores.
    It always answers on `ids`, with its ids or its error, so the test never waits in vain."""
    try:
        memory = KernelMemory(path)
        start.wait(timeout=120)
        own = [memory.remember(problem, variant(CORRECT, 1000 * (worker + 1) + n),
                               timed(verdict, 1.0 + n / 10), f"runs/{worker}",
                               fingerprint=fingerprint) for n in range(count)]
        common = [memory.remember(problem, variant(CORRECT, n), timed(verdict, 1.0), "seed",
                                  fingerprint=fingerprint) for n in range(shared)]
    except Exception as exc:
        ids.put((worker, f"{type(exc).__name__}: {exc}", []))
        raise
    ids.put((worker, own, common))


def open_at_once(paths: list[str], start: Any, opened: Any) -> None:
    """One process opening new memory files, each at the same moment as the others."""
    for path in paths:
        try:
            start.wait(timeout=120)
            KernelMemory(path)
        except Exception as exc:
            opened.put(f"{type(exc).__name__}: {exc}")
            continue
        opened.put("ok")


def test_processes_opening_one_new_file_at_once_all_get_it(tmp_path: Path):
    """They race to make the schema and switch the file to WAL; SQLite tells the losers
    "database is locked" at once rather than after its busy timeout, and they must wait."""
    paths, count = [str(tmp_path / f"new{n}.sqlite") for n in range(10)], 8
    context = multiprocessing.get_context("spawn")
    start, opened = context.Barrier(count), context.Queue()
    processes = [context.Process(target=open_at_once, args=(paths, start, opened))
                 for _ in range(count)]
    for process in processes:
        process.start()
    answers = [opened.get(timeout=300) for _ in range(count * len(paths))]
    for process in processes:
        process.join(timeout=60)
    assert [a for a in answers if a != "ok"] == []
    assert all(sqlite3.connect(p).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
               for p in paths)


def test_concurrent_writers_lose_nothing(tmp_path: Path, verdict: dict[str, Any],
                                         sandbox: Sandbox):
    path, writers, count, shared = str(tmp_path / "shared.sqlite"), 2, 150, 30
    problem = scale_add()
    fingerprint = fingerprint_problem(problem, sandbox)
    context = multiprocessing.get_context("spawn")
    start, ids = context.Barrier(writers), context.Queue()
    processes = [context.Process(target=write_many, args=(
        path, problem, fingerprint, verdict, worker, count, shared, start, ids))
                 for worker in range(writers)]
    for process in processes:
        process.start()
    results = [ids.get(timeout=300) for _ in processes]
    assert [own for _, own, _ in results if isinstance(own, str)] == []
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    own_ids = [i for _, own, _ in results for i in own]
    assert len(set(own_ids)) == writers * count
    assert results[0][2] == results[1][2]  # racing to store one kernel gives one id
    memory = KernelMemory(path, sandbox=sandbox)
    assert memory.count() == writers * count + shared
    assert len(memory.lookup_exact(problem)) == writers * count + shared
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    connection.close()


def test_where_memory_lives_and_unusable_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               private_cache: Path):
    assert default_path() == private_cache / "memory.sqlite"
    monkeypatch.setenv("KERNEL_AGENT_MEMORY", str(tmp_path / "elsewhere.sqlite"))
    assert default_path() == tmp_path / "elsewhere.sqlite"
    assert KernelMemory().path == tmp_path / "elsewhere.sqlite"

    not_a_database = tmp_path / "notes.txt"
    not_a_database.write_text("just some text, long enough to be read as a header" * 10)
    with pytest.raises(KernelMemoryError, match="cannot be opened"):
        KernelMemory(not_a_database)
    newer = tmp_path / "newer.sqlite"
    KernelMemory(newer)
    connection = sqlite3.connect(newer)
    connection.execute("PRAGMA user_version = 99")
    connection.close()
    with pytest.raises(KernelMemoryError, match="schema 99, newer"):
        KernelMemory(newer)
