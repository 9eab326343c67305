"""Generate: one branch asks the model for a candidate, then hands it to verify.

Closed loop (models without tool calling, such as R1): the model answers with the file, which is
extracted from the answer; an answer without usable code is asked for again, up to
`answer_attempts` times, with a short re-ask that says what was wrong (the answer goes back
without its reasoning). Tool-calling: see toolloop.py. Either way the outcome (code, or why
there is none) goes to the branch's verify step, so every branch reaches the round's end, and
every failed call or unusable answer is recorded as an attempt (attempts.jsonl, events).
Every model call of the step ends by the search's deadline (graphs/modelcall.py); a branch whose
last call failed backs off first (`wait_s`, set by assess), never past the deadline.
"""

from __future__ import annotations

import time
from typing import Any, Literal, cast

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime
from langgraph.types import Command, Send

from kernel_agent.agent.prompts import NO_CODE_PROMPT
from kernel_agent.agent.reasoning import split_reasoning
from kernel_agent.graphs.answers import Attempt, Fault, usable_code
from kernel_agent.graphs.context import Context, context_of
from kernel_agent.graphs.events import emit
from kernel_agent.graphs.modelcall import MIN_CALL_S, OUT_OF_BUDGET, within
from kernel_agent.graphs.state import Failure, GenerateTask, VerifyTask
from kernel_agent.graphs.toolloop import tool_round
from kernel_agent.tools.feedback import ANSWER_CHARS


def generate(payload: dict[str, Any], runtime: Runtime[Context]) -> Command[Literal["verify"]]:
    task = cast(GenerateTask, payload)  # a Send payload, not the graph state
    context = context_of(runtime)
    _back_off(task)
    if task["deadline"] - time.time() < MIN_CALL_S:
        attempt = Attempt(note="the time budget ran out before this branch was asked",
                          failure_kind=OUT_OF_BUDGET)
    else:
        with within(task["deadline"]):
            attempt = tool_round(task, context) if context.tools_mode() else \
                closed_loop_round(task, context)
    failure = None
    if attempt.code is None:
        failure = Failure(round=task["round"], branch=task["branch"],
                          kind=attempt.failure_kind, message=attempt.note, at=time.time(),
                          retry_after=attempt.retry_after)
    _record_faults(task, attempt, context)
    if failure is not None:
        emit("generation_failed", branch=task["branch"], round=task["round"],
             kind=attempt.failure_kind, message=attempt.note, model_s=round(attempt.seconds, 3))
    else:
        emit("candidate_generated", branch=task["branch"], round=task["round"],
             model_s=round(attempt.seconds, 3), tokens=attempt.tokens, note=attempt.note)
    outcome = VerifyTask(branch=task["branch"], round=task["round"], idea=task["idea"],
                         problem=task["problem"], code=attempt.code, note=attempt.note,
                         model_s=attempt.seconds, tokens=attempt.tokens, failure=failure,
                         deadline=task["deadline"])
    return Command(update={"tokens_used": attempt.tokens}, goto=Send("verify", outcome))


def closed_loop_round(task: GenerateTask, context: Context) -> Attempt:
    """Ask for the file; ask again (saying why) while the answer holds no usable code."""
    messages: list[BaseMessage] = [SystemMessage(task["system"]), HumanMessage(task["prompt"])]
    attempt = Attempt()
    model = context.generator()
    for _ in range(context.answer_attempts):
        reply = attempt.ask(model, messages)
        if reply is None:
            return attempt
        code, note = usable_code(reply.message)
        if code is not None:
            attempt.code, attempt.note = code, note
            return attempt
        attempt.no_code(note, reply.seconds)
        answer = split_reasoning(reply.message).answer
        echoed = context.feedback().clip(answer, ANSWER_CHARS, "answer")  # tools/feedback.py
        messages += [AIMessage(echoed or "(no answer)"),
                     HumanMessage(NO_CODE_PROMPT.format(why=f" ({note})"))]
    attempt.note = (f"no usable code in {context.answer_attempts} answer(s); last: "
                    f"{attempt.note}")
    attempt.failure_kind = "no_code"
    return attempt


def _back_off(task: GenerateTask) -> None:
    """Wait as assess asked (the branch's last call failed), but never past the deadline."""
    wait = min(task.get("wait_s", 0.0), task["deadline"] - time.time())
    if wait > 0:
        time.sleep(wait)


def _record_faults(task: GenerateTask, attempt: Attempt, context: Context) -> None:
    """Every failed call and unusable answer of the step, in attempts.jsonl; an event for each
    one the step went on from (the step's own failure has its generation_failed event)."""
    faults = list(attempt.faults)
    if attempt.code is None and not faults:
        if attempt.failure_kind == OUT_OF_BUDGET:
            return  # never asked: nothing was attempted
        faults = [Fault(attempt.failure_kind, attempt.note, attempt.seconds)]
    run_dir = context.run_directory()
    for number, fault in enumerate(faults, 1):
        if run_dir is not None:
            run_dir.record_attempt({"round": task["round"], "branch": task["branch"],
                                    "try": number, "kind": fault.kind,
                                    "message": fault.message,
                                    "seconds": round(fault.seconds, 3), "at": time.time()})
        if attempt.code is not None or number < len(faults):
            emit("attempt_failed", branch=task["branch"], round=task["round"], kind=fault.kind,
                 message=fault.message, model_s=round(fault.seconds, 3))
