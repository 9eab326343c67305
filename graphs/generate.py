"""Generate: one branch asks the model for a candidate, then hands it to verify.

Closed loop (models without tool calling, such as R1): the model answers with the file, which is
extracted from the answer; an answer without usable code is asked for again, up to
`answer_attempts` times. Tool-calling: see toolloop.py. Either way the outcome (code, or why
there is none) goes to the branch's verify step, so every branch reaches the round's end.
"""

from __future__ import annotations

import time
from typing import Any, Literal, cast

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime
from langgraph.types import Command, Send

from kernel_agent.agent.prompts import NO_CODE_PROMPT
from kernel_agent.agent.reasoning import split_reasoning
from kernel_agent.graphs.answers import Attempt, usable_code
from kernel_agent.graphs.context import Context, context_of
from kernel_agent.graphs.events import emit
from kernel_agent.graphs.state import Failure, GenerateTask, VerifyTask
from kernel_agent.graphs.toolloop import tool_round
from kernel_agent.tools.feedback import ANSWER_CHARS


def generate(payload: dict[str, Any], runtime: Runtime[Context]) -> Command[Literal["verify"]]:
    task = cast(GenerateTask, payload)  # a Send payload, not the graph state
    context = context_of(runtime)
    if time.time() >= task["deadline"]:
        attempt = Attempt(note="the time budget ran out before this branch was asked",
                          failure_kind="out_of_budget")
    elif context.tools_mode():
        attempt = tool_round(task, context)
    else:
        attempt = closed_loop_round(task, context)
    failure = None
    if attempt.code is None:
        failure = Failure(round=task["round"], branch=task["branch"],
                          kind=attempt.failure_kind, message=attempt.note)
        emit("generation_failed", branch=task["branch"], round=task["round"],
             kind=attempt.failure_kind, message=attempt.note, model_s=round(attempt.seconds, 3))
    else:
        emit("candidate_generated", branch=task["branch"], round=task["round"],
             model_s=round(attempt.seconds, 3), tokens=attempt.tokens, note=attempt.note)
    outcome = VerifyTask(branch=task["branch"], round=task["round"], idea=task["idea"],
                         problem=task["problem"], code=attempt.code, note=attempt.note,
                         model_s=attempt.seconds, tokens=attempt.tokens, failure=failure)
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
        code, attempt.note = usable_code(reply.message)
        if code is not None:
            attempt.code = code
            return attempt
        answer = split_reasoning(reply.message).answer
        echoed = context.feedback().clip(answer, ANSWER_CHARS, "answer")  # tools/feedback.py
        messages += [AIMessage(echoed or "(no answer)"),
                     HumanMessage(NO_CODE_PROMPT.format(why=f" ({attempt.note})"))]
    attempt.note = (f"no usable code in {context.answer_attempts} answer(s); last: "
                    f"{attempt.note}")
    attempt.failure_kind = "no_code"
    return attempt
