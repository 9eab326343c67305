"""A problem of thousands of outputs is judged in full: the replies that speak for each output
(the audit's description of the candidate's outputs, the race's projections) may grow with
their number, while a fixed limit still cuts off a flood."""

from __future__ import annotations

from kernel_agent.tools.candidate_link import REPLY_BYTES, outputs_reply_limit
from kernel_agent.tools.check import check_files

from ..conftest import DATA

CASE = DATA / "many_outputs"


def test_a_right_kernel_with_twelve_thousand_outputs_passes_its_audit() -> None:
    verdict = check_files(CASE / "problem.py", CASE / "kernel.py", trials=1, timing=False)
    assert verdict.status == "pass", verdict.summary()
    assert "audit_failed" not in {flag.name for flag in verdict.flags}
    assert verdict.trials[0].elements == 12_000


def test_the_reply_limit_grows_with_the_outputs_and_stays_bounded() -> None:
    assert outputs_reply_limit(0) == REPLY_BYTES
    assert outputs_reply_limit(12_000) > 12_000 * 100 + REPLY_BYTES
    assert outputs_reply_limit(12_000) < 64 << 20
