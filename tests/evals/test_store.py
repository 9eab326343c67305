"""The results file: each problem claimed once however many workers ask at the same time,
dead workers' problems handed back, attempts recorded once."""

from __future__ import annotations

import os
import socket
import threading

from kernel_agent.evals.store import Attempt, ResultStore, process_token
from kernel_agent.evals.suites import load_suite

from .conftest import SUITE

PROBLEMS = list(load_suite(SUITE).problems)


def new_run(run_dir) -> ResultStore:
    store = ResultStore(run_dir)
    store.create({"settings": {"suite": "test"}}, PROBLEMS, {})
    return store


def verdict(status: str) -> dict:
    return {"status": status, "compiled": True, "correct": status == "pass", "flags": [],
            "timing": {"speedup_eager": 1.5, "speedup_compiled": None}}


def test_concurrent_workers_claim_each_problem_once(tmp_path):
    new_run(tmp_path).close()
    claimed: list[tuple[str, str]] = []
    lock = threading.Lock()
    start = threading.Barrier(6)

    def worker(name: str) -> None:
        store = ResultStore(tmp_path)  # a connection of its own, as each eval worker has
        start.wait()
        while (claim := store.claim(f"{socket.gethostname()}:1:1", name)) is not None:
            with lock:
                claimed.append((claim.id, name))
            store.finish(claim.id, "evaluated", attempts=(
                Attempt(claim.id, None, 1.0, 0.5, verdict("fail")),))
        store.close()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(pid for pid, _ in claimed) == sorted(p.id for p in PROBLEMS)
    store = ResultStore(tmp_path)
    assert store.counts() == {"done": len(PROBLEMS), "passed": 0}
    assert {r["runs"] for r in store.problem_rows()} == {1}
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_recover_hands_back_only_problems_of_dead_workers(tmp_path):
    store = new_run(tmp_path)
    host = socket.gethostname()
    owners = {
        "live": process_token(),
        "reused pid": f"{host}:{os.getpid()}:0",  # this pid, but not this process
        "elsewhere": "another-host:1:1",
    }
    ids = {}
    for label, owner in owners.items():
        claim = store.claim(owner, label)
        assert claim is not None and claim.runs == 1
        ids[label] = claim.id
    assert store.recover() == [ids["reused pid"]]
    again = store.claim(owners["live"], "w")
    assert again is not None and again.id == ids["reused pid"] and again.runs == 2
    store.release_owner(owners["live"])
    states = {r["id"]: r["state"] for r in store.problem_rows()}
    assert states[ids["live"]] == states[ids["reused pid"]] == "pending"
    assert states[ids["elsewhere"]] == "running"


def test_attempts_are_recorded_once_and_numbered(tmp_path):
    store = new_run(tmp_path)
    claim = store.claim(process_token(), "w")
    assert claim is not None
    first = Attempt("r01-b0-aaaa", 10.0, 11.0, 1.0, verdict("fail"), tokens=40)
    second = Attempt("r02-b0-bbbb", 12.0, 14.0, 4.0, verdict("pass"), tokens=60)
    assert store.add_attempt(claim.id, first)
    assert not store.add_attempt(claim.id, first), "a resumed search reports it again"
    store.finish(claim.id, "evaluated", "found", (first, second),
                 {"prompt_tokens": 7, "completion_tokens": 3, "requests": 2})
    rows = store.attempt_rows()
    assert [(r["attempt"], r["candidate"], r["status"], r["tokens"]) for r in rows] == [
        (0, "r01-b0-aaaa", "fail", 40), (1, "r02-b0-bbbb", "pass", 60)]
    assert rows[1]["speedup_eager"] == 1.5 and rows[1]["compiled"] == 1
    assert store.usage(claim.id) == {"prompt_tokens": 7, "completion_tokens": 3, "requests": 2}
    assert store.counts()["passed"] == 1
