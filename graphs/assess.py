"""Assess: the end of a round. Record what each branch gave, then stop or start the next round.

Runs once per round, after every branch's verify step. The search stops when a target is met
(on a machine without a GPU, where speed cannot be measured, a correct kernel is the target),
when the rounds, the wall-clock minutes or the tokens are used up, or when the circuit breaker
finds the endpoint down (graphs/breaker.py); nothing else ends it. A branch without a candidate
tries again next round: after a failed call, with the same prompt once it has backed off (the
wait the endpoint asked for, else 2, 4, 8 ... s up to a minute, never past the deadline); after
an answer without usable code, with the critic's prompt that says so.
"""

from __future__ import annotations

import time
from typing import Any

from langchain_core.messages import AIMessage
from langgraph.runtime import Runtime
from langgraph.types import Command, Send

from kernel_agent.graphs.breaker import down_message
from kernel_agent.graphs.context import Context, context_of
from kernel_agent.graphs.events import emit
from kernel_agent.graphs.modelcall import MODEL_ERROR
from kernel_agent.graphs.ranking import best_of
from kernel_agent.graphs.state import AskAgain, Branch, Candidate, CritiqueTask, Failure, State

HISTORY_SENT = 64
BACKOFF_S, MAX_BACKOFF_S = 2.0, 60.0  # between a branch's failed calls: doubling, capped


def assess(state: State, runtime: Runtime[Context]) -> Command:
    context = context_of(runtime)
    number = state["round"]
    verified = [c for c in state.get("candidates", []) if c["round"] == number]
    failures = [f for f in state.get("failures", []) if f["round"] == number]
    best = state.get("best")
    history = _history(verified, failures, state["branches"])
    emit("round_finished", round=number, seconds=round(time.time() - state["round_started_at"], 3),
         verified=len(verified), passed=sum(c["status"] == "pass" for c in verified),
         failures=len(failures))
    # `best` ranks failing candidates too (the critic shows the closest attempt); only a passing
    # one is announced as the search's best, to the live view and to MCP clients alike.
    earlier = best_of(c for c in state.get("candidates", []) if c["round"] < number)
    if (best is not None and best["status"] == "pass"
            and (earlier is None or earlier["id"] != best["id"])):
        emit("new_best", id=best["id"], round=best["round"], branch=best["branch"],
             status=best["status"], speedup=best["speedup"], headline=best["headline"])
    tokens = state.get("tokens_used", 0)
    seconds_left = state["deadline"] - time.time()
    max_rounds, max_tokens = state.get("max_rounds"), state.get("max_tokens")
    emit("budget", round=number, rounds_left=None if max_rounds is None else max_rounds - number,
         seconds_left=round(seconds_left, 1), tokens_used=tokens,
         tokens_left=None if max_tokens is None else max_tokens - tokens)
    reason = stop_reason(best, context, number, max_rounds, seconds_left, tokens, max_tokens,
                         failures)
    now = time.time()
    health = context.breaker.judge(state.get("endpoint"), verified, failures, now)
    summary = _summary(number, verified, failures, best)
    update: dict[str, Any] = {"history": history, "messages": [AIMessage(summary)],
                              "endpoint": health}
    if reason is None and health["down"]:
        reason = down_message(health, state.get("failures", []), now)
        update["error"] = reason
    if reason:
        return Command(update={**update, "stop_reason": reason}, goto="select")
    # enough for the critic's short history (agent/critic.py), not the whole search
    history_now = [*state.get("history", []), *history][-HISTORY_SENT:]
    emit("round_started", round=number + 1)
    return Command(update={**update, "round": number + 1, "round_started_at": now},
                   goto=next_round(state, number, state["deadline"], history_now))


def next_round(state: State, number: int, deadline: float, history: list[dict[str, Any]],
               back_off: bool = True) -> list[Send]:
    """Round `number + 1`'s critic tasks, one per branch with its last outcome. A branch whose
    call failed is to ask again with the same prompt, after its back-off (unless `back_off` is
    False): its critic step passes it on without a model call. Every branch takes the same
    steps, so the round's branches reach assess together."""
    verified = [c for c in state.get("candidates", []) if c["round"] == number]
    all_failures = state.get("failures", [])
    failures = [f for f in all_failures if f["round"] == number]
    best = state.get("best")
    sends = []
    for key in sorted(state["branches"], key=int):
        branch = state["branches"][key]
        failure = next((f for f in failures if f["branch"] == branch["branch"]), None)
        again = None
        if failure is not None and failure["kind"] == MODEL_ERROR:
            wait = backoff(all_failures, branch["branch"], number, failure.get("retry_after"))
            again = AskAgain(prompt=branch["prompt"], wait_s=wait if back_off else 0.0)
        sends.append(Send("critic", CritiqueTask(
            branch=branch["branch"], round=number + 1, idea=branch["idea"],
            problem=state["problem"], request=state.get("request", ""),
            system=state["system_prompt"], deadline=deadline,
            candidate=next((c for c in verified if c["branch"] == branch["branch"]), None),
            failure=failure, best=best, history=history, ask_again=again)))
    return sends


def backoff(failures: list[Failure], branch: int, number: int,
            retry_after: float | None) -> float:
    """The wait before a branch asks again after round `number`'s failed call: what the
    endpoint asked for, else doubling with every round in a row that failed so."""
    failed = {f["round"] for f in failures if f["branch"] == branch and f["kind"] == MODEL_ERROR}
    streak = 0
    while number - streak in failed:
        streak += 1
    doubling = min(MAX_BACKOFF_S, BACKOFF_S * 2 ** max(streak - 1, 0))
    return max(doubling, min(retry_after or 0.0, MAX_BACKOFF_S))


def _history(verified: list[Candidate], failures: list[Failure],
             branches: dict[str, Branch]) -> list[dict[str, Any]]:
    entries = [{"round": c["round"], "branch": c["branch"], "idea": c["idea"],
                "outcome": f"{c['status']}: {c['headline']}"} for c in verified]
    entries += [{"round": f["round"], "branch": f["branch"],
                 "idea": branches[str(f["branch"])]["idea"],
                 "outcome": f"no candidate ({f['kind']}): {f['message'][:300]}"}
                for f in failures]
    return sorted(entries, key=lambda e: e["branch"])


def stop_reason(best: Candidate | None, context: Context, number: int, max_rounds: int | None,
                seconds_left: float, tokens: int, max_tokens: int | None,
                failures: list[Failure]) -> str | None:
    """Why the search should stop after round `number`, or None to go on."""
    if best is not None and best["status"] == "pass":
        target = context.target_speedup
        if target is not None and (best["speedup"] or 0) >= target:
            return f"target reached: {best['speedup']:.2f}x over eager (target {target:g}x)"
        if "timing" in best["verdict"].get("not_measured", {}):
            return ("correct kernel found; speed not measured: "
                    f"{best['verdict']['not_measured']['timing']}")
    if max_rounds is not None and number >= max_rounds:
        return f"round budget used ({max_rounds} rounds)"
    if seconds_left <= 0 or any(f["kind"] == "out_of_budget" for f in failures):
        return "time budget used"
    if max_tokens is not None and tokens >= max_tokens:
        return f"token budget used ({tokens} of {max_tokens})"
    return None


def _summary(number: int, verified: list[Candidate], failures: list[Failure],
             best: Candidate | None) -> str:
    passed = sum(c["status"] == "pass" for c in verified)
    text = (f"Round {number}: {len(verified)} candidate(s) verified, {passed} passed"
            + (f", {len(failures)} branch(es) without a candidate" if failures else "") + ".")
    if best is not None:
        speed = f", {best['speedup']:.2f}x over eager" if best["speedup"] else ""
        text += f" Best so far: {best['id']} ({best['status']}{speed}): {best['headline']}"
    return text
