"""The circuit breaker: a search ends early for an endpoint that is plainly down, nothing less.

A failed call costs one attempt, never the search (DESIGN.md). But when every call fails for
minutes, going on only waits out the budget, so the search stops and says so, keeping every
verified candidate, and `solve` prints how to resume it. The count is of model calls failed in
a row across all branches (each already retried within its call): a round in which the endpoint
answered any branch, with code or without, starts it again from zero. The breaker trips when
`failures` calls in a row failed over at least `window_s` seconds; both must hold, so a short
outage of a wide search or a few slow failures of a narrow one do not end it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kernel_agent.graphs.modelcall import ENDPOINT_REFUSED, MODEL_ERROR, OUT_OF_BUDGET
from kernel_agent.graphs.state import Candidate, EndpointHealth, Failure

HEALTHY = EndpointHealth(failures=0, since=None, down=False)
# Failed calls that count against the endpoint (a refusal trips the breaker at once).
ENDPOINT_FAILURES = (MODEL_ERROR, ENDPOINT_REFUSED)


@dataclass(frozen=True)
class Breaker:
    """When the endpoint counts as down: `failures` failed calls in a row over `window_s`."""

    failures: int = 8
    window_s: float = 180.0

    def __post_init__(self) -> None:
        if self.failures < 1 or self.window_s < 0:
            raise ValueError("breaker failures must be at least 1 and window_s at least 0")

    def judge(self, health: EndpointHealth | None, verified: Sequence[Candidate],
              failures: Sequence[Failure], now: float) -> EndpointHealth:
        """The count after one round's outcomes, `down` set when the breaker trips."""
        answered = bool(verified) or any(
            f["kind"] not in (*ENDPOINT_FAILURES, OUT_OF_BUDGET) for f in failures)
        if answered:
            return HEALTHY
        health = health or HEALTHY
        failed = [f for f in failures if f["kind"] in ENDPOINT_FAILURES]
        if not failed:
            return health
        count = health["failures"] + len(failed)
        first = min(f.get("at", now) for f in failed)
        since = first if health["since"] is None else health["since"]
        refused = any(f["kind"] == ENDPOINT_REFUSED for f in failed)  # every call would be
        down = refused or (count >= self.failures and now - since >= self.window_s)
        return EndpointHealth(failures=count, since=since, down=down)


def down_message(health: EndpointHealth, failures: Sequence[Failure], now: float) -> str:
    """Why the search stopped: how many calls failed over how long, and the last reason."""
    last = next((f for f in reversed(failures) if f["kind"] in ENDPOINT_FAILURES), None)
    reason = last["message"].strip().splitlines()[0] if last and last["message"].strip() else ""
    if last is not None and last["kind"] == ENDPOINT_REFUSED:
        return (f"the model endpoint refuses every request ({reason}): check the API key, the "
                "model's name and the base URL")
    since = health["since"] if health["since"] is not None else now
    return (f"the model endpoint looks down: {health['failures']} calls in a row failed over "
            f"{now - since:.0f} s" + (f" (last: {reason})" if reason else ""))
