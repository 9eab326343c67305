"""Plan: K branches, each with a different optimisation idea, then round 1 fans out.

The model proposes the ideas; an unusable answer, or an endpoint that fails here or takes more
than a fifth of the time left, falls back to the built-in ideas for the problem's family, so
planning never stops a search nor spends its budget. On a follow-up in a conversation, the
first prompts also offer the previous search's best kernel as a start; for a problem kernel
memory knows, the remembered kernel (re-verified by recall).
"""

from __future__ import annotations

import time

from langchain_core.messages import HumanMessage
from langgraph.runtime import Runtime
from langgraph.types import Command, Send

from kernel_agent.agent.prompts import (
    PLAN_PROMPT,
    REMEMBERED_KERNEL,
    REQUEST_LINE,
    STARTING_POINT,
    TASK_PROMPT,
)
from kernel_agent.agent.reasoning import split_reasoning
from kernel_agent.graphs.context import Context, context_of
from kernel_agent.graphs.events import emit
from kernel_agent.graphs.ideas import choose_ideas, parse_ideas
from kernel_agent.graphs.modelcall import ModelCallFailed, ask, within
from kernel_agent.graphs.state import Branch, GenerateTask, State

PLAN_SHARE = 0.2  # of the time left, at most, for the model's ideas


def plan(state: State, runtime: Runtime[Context]) -> Command:
    context = context_of(runtime)
    problem, request = state["problem"], state.get("request", "")
    request_line = REQUEST_LINE.format(request=request) if request else ""
    prompt = PLAN_PROMPT.format(problem_path=problem["path"], problem_text=problem["text"],
                                request_line=request_line, count=context.branches)
    proposed: list[str] = []
    tokens, seconds, error = 0, 0.0, None
    now = time.time()
    try:  # a share of the time left: the ideas are worth less than the attempts they start
        with within(min(state["deadline"], now + PLAN_SHARE * (state["deadline"] - now))):
            reply = ask(context.generator(), [HumanMessage(prompt)])
        proposed = parse_ideas(split_reasoning(reply.message).answer)
        tokens, seconds = reply.tokens, reply.seconds
    except ModelCallFailed as exc:
        error, seconds = str(exc), exc.seconds
    ideas, source = choose_ideas(proposed, context.branches, problem["text"])
    emit("plan_ready", ideas=ideas, source=source, model_s=round(seconds, 3), error=error,
         tokens=tokens)
    branches: dict[str, Branch] = {}
    sends = []
    # A follow-up: the previous search's best kernel; or a kernel remembered for this problem.
    start = state.get("starting_point")
    template = REMEMBERED_KERNEL if start and start.get("kind") == "memory" else STARTING_POINT
    after_problem = request_line + (template.format(
        outcome=start["outcome"], code=start["code"].rstrip()) if start else "")
    for number, idea in enumerate(ideas):
        first = TASK_PROMPT.format(problem_path=problem["path"], problem_text=problem["text"],
                                   request_line=after_problem, idea=idea)
        branches[str(number)] = Branch(branch=number, idea=idea, prompt=first, round=1)
        sends.append(Send("generate", GenerateTask(
            branch=number, round=1, idea=idea, prompt=first, system=state["system_prompt"],
            problem=problem, deadline=state["deadline"])))
    emit("round_started", round=1)
    return Command(update={"branches": branches, "round": 1, "round_started_at": time.time(),
                           "tokens_used": tokens}, goto=sends)
