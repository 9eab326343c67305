"""Tool-calling generate: the model may compile, test, profile and inspect drafts, then submits.

The tools are the project's own (tools/langchain_tools.py), bound to a workspace per branch and
round (under the run directory, so what the model saw can be read later), plus `submit_kernel`.
A plain answer holding the file counts as a submission too. Each model turn is one call; the
loop ends at a submission, at `tool_steps` turns, or when the endpoint fails.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from kernel_agent.agent.extract import extract_code
from kernel_agent.agent.prompts import NO_CODE_PROMPT, SUBMIT_DESCRIPTION, TOOLS_NOTE
from kernel_agent.graphs.answers import Attempt, usable_code
from kernel_agent.graphs.context import Context
from kernel_agent.graphs.state import GenerateTask
from kernel_agent.tools.langchain_tools import KernelWorkspace, make_tools

SUBMIT = "submit_kernel"


class SubmitArgs(BaseModel):
    code: str = Field(description=SUBMIT_DESCRIPTION)


def submit_tool() -> BaseTool:
    def submit_kernel(code: str) -> str:
        return "submitted" if code.strip() else "the code is empty: pass the complete file"

    return StructuredTool.from_function(submit_kernel, name=SUBMIT, args_schema=SubmitArgs,
                                        description=SUBMIT_DESCRIPTION)


def tool_round(task: GenerateTask, context: Context) -> Attempt:
    """Let the model work with the tools until it submits a file."""
    attempt = Attempt()
    used: list[str] = []
    with _workspace_dir(context, task) as directory:
        workspace = KernelWorkspace(task["problem"], directory, sandbox=context.sandbox_in_use())
        tools = [*make_tools(workspace), submit_tool()]
        by_name = {tool.name: tool for tool in tools}
        model = context.generator().bind_tools(tools)
        messages: list[BaseMessage] = [SystemMessage(task["system"] + TOOLS_NOTE),
                                       HumanMessage(task["prompt"])]
        plain_answers = 0
        for _ in range(context.tool_steps):
            reply = attempt.ask(model, messages)
            if reply is None:
                return attempt
            messages.append(reply.message)
            calls = reply.message.tool_calls
            if not calls:
                code, note = usable_code(reply.message)
                if code is not None:
                    attempt.code, attempt.note = code, _note(used, f"answered with code: {note}")
                    return attempt
                plain_answers += 1
                if plain_answers >= context.answer_attempts:
                    break
                messages.append(HumanMessage(NO_CODE_PROMPT.format(why=f" ({note})")))
                continue
            code = next((_submitted(c["args"]) for c in calls if c["name"] == SUBMIT), None)
            if code:
                attempt.code, attempt.note = code, _note(used, f"submitted with {SUBMIT}")
                return attempt
            for call in calls:
                used.append(call["name"])
                messages.append(_run(by_name, call))
    attempt.note = _note(used, f"no submission in {context.tool_steps} model turns")
    attempt.failure_kind = "no_code"
    return attempt


def _run(by_name: dict[str, BaseTool], call: dict[str, Any]) -> ToolMessage:
    """One tool call's answer; a failing or unknown tool answers with the error, never raises."""
    tool = by_name.get(call["name"])
    if tool is None:
        return ToolMessage(f"unknown tool {call['name']!r}; available: {', '.join(by_name)}",
                           tool_call_id=call["id"], status="error")
    try:
        result = tool.invoke({**call, "type": "tool_call"})
    except Exception as exc:  # bad arguments or a tool failure: the model should see it
        return ToolMessage(f"{call['name']} failed: {type(exc).__name__}: {exc}",
                           tool_call_id=call["id"], status="error")
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
