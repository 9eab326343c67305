"""The zygote forks fresh children that hold nothing of their parent, and ends all they start."""

from __future__ import annotations

import os
import signal
import time

import pytest

from kernel_agent.sandbox import channel
from kernel_agent.sandbox.zygote import Zygote, ZygoteLost
from tests.sandbox.helpers import live

TARGETS = "tests.sandbox.zygote_targets"


@pytest.fixture
def zygote():
    made = Zygote()
    made.start()
    yield made
    made.stop()


def test_a_child_holds_only_its_socket_and_its_output(zygote, tmp_path):
    secret = os.open(tmp_path / "answer.json", os.O_WRONLY | os.O_CREAT)  # as the judge's answer
    out = os.open(tmp_path / "out.log", os.O_WRONLY | os.O_CREAT)
    try:
        child = zygote.spawn(f"{TARGETS}:report_descriptors", stdout=out)
        message, _ = channel.receive(child.link)
        status = zygote.end(child, grace_s=5)  # it ends by itself once it has sent
    finally:
        os.close(secret)
        os.close(out)
    assert message["pid"] == child.pid != os.getpid()
    links = message["fds"]
    assert sorted(links) == ["0", "1", "2", message["link"]], links
    assert not any(target.endswith("answer.json") for target in links.values())
    assert links["1"].endswith("out.log") and links["2"].endswith("out.log")
    assert status == {"status": {"exit": 0}, "killed": False}


def test_ending_a_child_kills_what_it_started_and_says_how_it_ended(zygote):
    child = zygote.spawn(f"{TARGETS}:leave_grandchild")
    message, _ = channel.receive(child.link)
    grandchild = message["grandchild"]
    os.kill(grandchild, 0)  # running, in a session of its own
    status = zygote.end(child)
    assert status["killed"] and status["status"] == {"signal": signal.SIGKILL}
    deadline = time.time() + 5
    while time.time() < deadline and live(grandchild):
        time.sleep(0.05)
    assert not live(grandchild)


def test_a_child_ended_soon_is_gone_with_what_it_started_once_the_next_request_is_answered(
        zygote):
    """end_soon returns without waiting for the zygote's answer; the next spawn reads that
    answer first, so it gets its own, and the ended child and its grandchild are gone by then."""
    child = zygote.spawn(f"{TARGETS}:leave_grandchild")
    grandchild = channel.receive(child.link)[0]["grandchild"]
    zygote.end_soon(child)
    again = zygote.spawn(f"{TARGETS}:report_descriptors")
    assert channel.receive(again.link)[0]["pid"] == again.pid != child.pid
    assert not live(child.pid) and not live(grandchild)
    zygote.end_soon(again)
    zygote.ended()
    assert not live(again.pid)
    zygote.ended()  # nothing left to wait for: returns at once


def test_a_zygote_stopped_with_an_end_unanswered_takes_its_child_along(zygote):
    child = zygote.spawn(f"{TARGETS}:leave_grandchild")
    channel.receive(child.link)
    zygote.end_soon(child)
    zygote.stop()
    deadline = time.time() + 5
    while time.time() < deadline and live(child.pid):
        time.sleep(0.05)
    assert not live(child.pid) and not zygote.alive()


def test_a_crashed_child_is_reported_with_its_signal(zygote):
    child = zygote.spawn(f"{TARGETS}:segfault")
    assert channel.receive(child.link) is None
    assert zygote.end(child, grace_s=5) == {"status": {"signal": signal.SIGSEGV},
                                            "killed": False}
    again = zygote.spawn(f"{TARGETS}:report_descriptors")  # the zygote is still there
    assert channel.receive(again.link)[0]["pid"] == again.pid
    zygote.end(again)


def test_a_lost_zygote_is_said_so(zygote):
    os.kill(zygote.pid, signal.SIGKILL)
    with pytest.raises(ZygoteLost):
        zygote.spawn(f"{TARGETS}:report_descriptors")
    assert not zygote.alive()


def test_a_child_can_signal_no_process_but_itself(zygote, monkeypatch):
    monkeypatch.setenv("JUDGE_PID", str(os.getpid()))
    zygote.stop()
    zygote.start()  # again, so that it holds the variable
    child = zygote.spawn(f"{TARGETS}:signal_others")
    tried, _ = channel.receive(child.link)
    zygote.end(child)
    assert tried == {"zygote": "EPERM", "group": "EPERM", "parent": "EPERM", "self": "allowed"}
