"""Tool-calling generate: the model may compile, test, profile and inspect drafts, then submits.

The tools are the project's own (tools/langchain_tools.py), bound to a workspace per branch and
round (under the run directory, so what the model saw can be read later), plus `submit_kernel`;
the system prompt lists them by their registered names. A plain answer holding the file counts
as a submission too. Each model turn is one call; the loop ends at a submission, at
`tool_steps` turns, after `answer_attempts` answers without code, or when the endpoint fails.
What goes back to the model is the answer without its reasoning, and every text is capped
(tools/feedback.py). An endpoint that refuses tools (HTTP 400) gets the closed loop instead,
for this round and the rest of the run.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from kernel_agent.agent.extract import extract_code
from kernel_agent.agent.prompts import (
    NO_CODE_PROMPT,
    SUBMIT_DESCRIPTION,
    TOOL_LINE,
    TOOLS_NOTE,
    TOOLS_REFUSED_NOTE,
)
from kernel_agent.agent.reasoning import split_reasoning
from kernel_agent.agent.tool_support import refuses_tools
from kernel_agent.graphs.answers import Attempt, usable_code
from kernel_agent.graphs.context import Context
from kernel_agent.graphs.state import GenerateTask
from kernel_agent.tools.feedback import ANSWER_CHARS, ERROR_CHARS, NOTE_CHARS, FeedbackStore
from kernel_agent.tools.langchain_tools import KernelWorkspace, make_tools

SUBMIT = "submit_kernel"
SENTENCE_END = re.compile(r"(?<=\.)(?<!e\.g\.)(?<!i\.e\.)\s+(?=[A-Z])")


class SubmitArgs(BaseModel):
    code: str = Field(description=SUBMIT_DESCRIPTION)


def submit_tool() -> BaseTool:
    def submit_kernel(code: str) -> str:
        return "submitted" if code.strip() else "the code is empty: pass the complete file"

    return StructuredTool.from_function(submit_kernel, name=SUBMIT, args_schema=SubmitArgs,
                                        description=SUBMIT_DESCRIPTION)


def tools_note(tools: list[BaseTool]) -> str:
    """The system prompt's paragraph on the tools, each named as registered."""
    lines = [TOOL_LINE.format(name=tool.name, summary=_first_sentence(tool.description))
             for tool in tools if tool.name != SUBMIT]
    return TOOLS_NOTE.format(tools="\n".join(lines), submit=SUBMIT)


def tool_round(task: GenerateTask, context: Context) -> Attempt:
    """Let the model work with the tools until it submits a file."""
    attempt = Attempt()
    used: list[str] = []
    feedback = context.feedback()
    with _workspace_dir(context, task) as directory:
        workspace = KernelWorkspace(task["problem"], directory, sandbox=context.sandbox_in_use(),
                                    deadline=task["deadline"])
        tools = [*make_tools(workspace), submit_tool()]
        by_name = {tool.name: tool for tool in tools}
        model = context.generator().bind_tools(tools)
        messages: list[BaseMessage] = [SystemMessage(task["system"] + tools_note(tools)),
                                       HumanMessage(task["prompt"])]
        plain_answers = 0
        for _ in range(context.tool_steps):
            reply = attempt.ask(model, messages)
            if reply is None:
                if refuses_tools(attempt.note):
                    return _closed_loop_instead(task, context, attempt)
                return attempt
            messages.append(_echo(reply.message, feedback))
            calls = reply.message.tool_calls
            if not calls:
                code, note = usable_code(reply.message)
                if code is not None:
                    attempt.code, attempt.note = code, _note(used, f"answered with code: {note}")
                    return attempt
                plain_answers += 1
                attempt.no_code(note, reply.seconds)  # recorded as a failed attempt
                if plain_answers >= context.answer_attempts:
                    attempt.note = _note(used, f"no usable code in {plain_answers} answer(s) "
                                               f"without a tool call; last: {note}")
                    attempt.failure_kind = "no_code"
                    return attempt
                why = feedback.clip(note, NOTE_CHARS, "no-code-reason")
                messages.append(HumanMessage(NO_CODE_PROMPT.format(why=f" ({why})")))
                continue
            code = next((_submitted(c["args"]) for c in calls if c["name"] == SUBMIT), None)
            if code:
                attempt.code, attempt.note = code, _note(used, f"submitted with {SUBMIT}")
                return attempt
            for call in calls:
                used.append(call["name"])
                messages.append(_run(by_name, call, feedback))
    attempt.note = _note(used, f"no submission in {context.tool_steps} model turns"
                               + (f"; last answer without code: {attempt.note}"
                                  if attempt.note else ""))
    attempt.failure_kind = "no_code"
    return attempt


def _closed_loop_instead(task: GenerateTask, context: Context, refused: Attempt) -> Attempt:
    """The endpoint refused tools: remember it for the run and answer this round in text."""
    from kernel_agent.graphs.generate import closed_loop_round  # generate imports this module

    context.refuse_tools(refused.note.strip().splitlines()[0][:NOTE_CHARS])
    attempt = closed_loop_round(task, context)
    attempt.seconds += refused.seconds
    attempt.note = (TOOLS_REFUSED_NOTE.format(reason=context.tools_refused())
                    + f"; {attempt.note}")
    return attempt


def _echo(message: AIMessage, feedback: FeedbackStore) -> AIMessage:
    """The model's turn as it goes back into the conversation: the answer and its tool calls,
    never its reasoning, and the answer capped."""
    answer = split_reasoning(message).answer
    return AIMessage(content=feedback.clip(answer, ANSWER_CHARS, "answer"),
                     tool_calls=message.tool_calls)


def _first_sentence(text: str) -> str:
    return " ".join(SENTENCE_END.split(text.strip(), maxsplit=1)[0].split())


def _run(by_name: dict[str, BaseTool], call: dict[str, Any],
         feedback: FeedbackStore) -> ToolMessage:
    """One tool call's answer; a failing or unknown tool answers with the error, never raises.
    (The tools cap their own answers; tools/langchain_tools.py.)"""
    tool = by_name.get(call["name"])
    if tool is None:
        name = feedback.clip(str(call["name"]), NOTE_CHARS, "tool-name")
        return ToolMessage(f"unknown tool {name!r}; available: {', '.join(by_name)}",
                           tool_call_id=call["id"], status="error")
    try:
        result = tool.invoke({**call, "type": "tool_call"})
    except Exception as exc:  # bad arguments or a tool failure: the model should see it
        error = feedback.clip(f"{type(exc).__name__}: {exc}", ERROR_CHARS, "tool-error",
                              keep="tail")
        return ToolMessage(f"{call['name']} failed: {error}", tool_call_id=call["id"],
                           status="error")
    return result if isinstance(result, ToolMessage) else ToolMessage(
        str(result), tool_call_id=call["id"])


def _submitted(args: dict[str, Any]) -> str | None:
    code = args.get("code")
    if not isinstance(code, str) or not code.strip():
        return None
    return (extract_code(code).code or code) if "```" in code else code


def _note(used: list[str], outcome: str) -> str:
    return f"called {', '.join(used)}; {outcome}" if used else outcome


@contextmanager
def _workspace_dir(context: Context, task: GenerateTask) -> Iterator[Path]:
    run_dir = context.run_directory()
    if run_dir is not None:
        yield run_dir.workspace(f"round{task['round']:02d}-branch{task['branch']}")
        return
    with tempfile.TemporaryDirectory(prefix="kernel-agent-tools-") as folder:
        yield Path(folder)
