"""Critic step: one branch's evidence becomes the prompt of its next round.

The diagnosis is computed from the verdict (agent/critic.py), and says first when the model sent
code the run had already verified (graphs/resubmission.py); the critic model adds advice; the
refined prompt carries both, the branch's last code, the best code so far and the search's
recent history. The prompt is stored in the branch's record before generate runs, so a resumed
run does not ask the critic again. A branch whose model call failed has nothing to criticise:
its step passes the same prompt on to generate, with the back-off assess chose.
"""

from __future__ import annotations

import time
from typing import Any, Literal, cast

from langgraph.runtime import Runtime
from langgraph.types import Command, Send

from kernel_agent.agent.critic import (
    BestCode,
    diagnose,
    no_code_diagnosis,
    refined_prompt,
    write_advice,
)
from kernel_agent.agent.usage import usage_of
from kernel_agent.graphs.context import Context, context_of
from kernel_agent.graphs.events import emit
from kernel_agent.graphs.modelcall import bounded, within
from kernel_agent.graphs.resubmission import resubmitted
from kernel_agent.graphs.state import Branch, CritiqueTask, GenerateTask
from kernel_agent.tools.verdict import Verdict

# Of the time left, at most, for the critic model's advice: without it the diagnosis, computed
# from the verdict, still makes the next prompt, so a hung critic costs the round little.
CRITIC_SHARE = 0.15


def critic(payload: dict[str, Any], runtime: Runtime[Context]) -> Command[Literal["generate"]]:
    task = cast(CritiqueTask, payload)  # a Send payload, not the graph state
    if again := task.get("ask_again"):
        return Command(goto=Send("generate", GenerateTask(
            branch=task["branch"], round=task["round"], idea=task["idea"],
            prompt=again["prompt"], system=task["system"], problem=task["problem"],
            deadline=task["deadline"], wait_s=again["wait_s"])))
    context = context_of(runtime)
    candidate, failure = task["candidate"], task["failure"]
    if candidate is not None:
        verdict = Verdict.from_dict(candidate["verdict"])
        diagnosis = resubmitted(diagnose(verdict, candidate["code"],
                                         target_speedup=context.target_speedup), candidate)
        code, verdict_text = candidate["code"], verdict.summary()
    else:
        note = failure["message"] if failure else "no answer"
        diagnosis = no_code_diagnosis(note)
        code, verdict_text = "", "(nothing to verify)"
    best = task["best"]
    shown_best = None
    if best is not None and (candidate is None or best["id"] != candidate["id"]):
        shown_best = BestCode(best["code"], best["round"], f"{best['status']}: {best['headline']}")
    now = time.time()  # the advice is worth less than the attempt it goes into: a share only
    with within(min(task["deadline"], now + CRITIC_SHARE * (task["deadline"] - now))):
        advice = write_advice(bounded(context.critic()), idea=task["idea"],
                              round=task["round"] - 1, code=code or "# (no code)",
                              verdict_text=verdict_text, diagnosis=diagnosis, best=shown_best,
                              history=task["history"], branch=task["branch"],
                              feedback=context.feedback())
    problem = task["problem"]
    prompt = refined_prompt(problem_text=problem["text"], problem_path=problem["path"],
                            request=task["request"], idea=task["idea"], round=task["round"] - 1,
                            previous_code=code, diagnosis=diagnosis, advice=advice.text,
                            best=shown_best, history=task["history"], branch=task["branch"],
                            feedback=context.feedback())
    tokens = usage_of(advice.message).total_tokens if advice.message else 0
    emit("critic_done", branch=task["branch"], round=task["round"], kind=diagnosis.kind,
         model_s=round(advice.seconds, 3), error=advice.error)
    branch = Branch(branch=task["branch"], idea=task["idea"], prompt=prompt, round=task["round"])
    return Command(
        update={"branches": {str(task["branch"]): branch}, "tokens_used": tokens},
        goto=Send("generate", GenerateTask(
            branch=task["branch"], round=task["round"], idea=task["idea"], prompt=prompt,
            system=task["system"], problem=problem, deadline=task["deadline"])))
