"""Draft: write the reference problem from the conversation and check that it runs.

A person describes a kernel in prose ("attention with relative position bias q_idx - kv_idx,
bf16, B=8 H=16 S=4096 D=128"). The model writes the KernelBench-format reference (`Model`,
`get_inputs`, `get_init_inputs`, `get_small_inputs` for CPUs, a `KERNEL_AGENT` dict with the
request and dtype) from everything the person wrote, or revises the current one: after a change
request, or on a follow-up after a search ("now for D=64"), where the previous search's
reference is revised. The file is taken from the answer (agent/extract.py) and run in the
sandbox as its own candidate, as intake does with a given problem; one that cannot be used goes
back to the model with the error, up to DRAFT_ATTEMPTS answers in all. Then the review node
shows it to the person.
"""

from __future__ import annotations

from dataclasses import dataclass
from time import perf_counter
from typing import Any, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command

from kernel_agent.agent.models import NoEndpointConfigured
from kernel_agent.agent.prompts import DRAFT_CURRENT, DRAFT_FIX_PROMPT, DRAFT_PROMPT
from kernel_agent.agent.reasoning import split_reasoning
from kernel_agent.graphs.answers import usable_code
from kernel_agent.graphs.context import Context, context_of
from kernel_agent.graphs.events import emit
from kernel_agent.graphs.intake import reference_error, run_reference
from kernel_agent.graphs.modelcall import ModelCallFailed, ask
from kernel_agent.graphs.problem_file import request_of, structure_error
from kernel_agent.graphs.state import ReferenceDraft, State, ValidationResult

DRAFT_ATTEMPTS = 3  # model answers per drafting: the draft and up to two repairs
DRAFT_PATH = "reference.py"  # the draft's name in errors, until it is approved and saved


@dataclass
class Drafted:
    """The latest usable file (None when no answer held one), its check, and the cost."""

    text: str | None = None
    validation: ValidationResult | None = None
    attempts: int = 0
    tokens: int = 0
    note: str = ""  # what was wrong with the last answer


def draft(state: State, runtime: Runtime[Context]) -> Command[Literal["review", "__end__"]]:
    context = context_of(runtime)
    current = state.get("reference_draft")
    revision = current["revision"] + 1 if current else 1
    prompt = DRAFT_PROMPT.format(conversation=conversation(state),
                                 current_section=_current_section(state, current))
    try:
        drafted = draft_until_usable(context.generator(), prompt, context, revision)
    except NoEndpointConfigured as exc:
        return _fail(f"no model to draft the reference problem with: {exc.reason}")
    except ModelCallFailed as exc:
        return _fail(f"drafting the reference problem failed: {exc}")
    if drafted.text is None or drafted.validation is None:
        return _fail(f"the model wrote no usable reference problem in {drafted.attempts} "
                     f"answer(s): {drafted.note}")
    request = intent(state) or request_of(drafted.text)
    new = ReferenceDraft(
        text=drafted.text, path=DRAFT_PATH, request=request, validation=drafted.validation,
        status="review", origin="model", revision=revision, attempts=drafted.attempts,
        tokens=(current["tokens"] if current else 0) + drafted.tokens)
    return Command(update={"reference_draft": new, "error": None,
                           "messages": [AIMessage(describe(new))]}, goto="review")


def draft_until_usable(model: BaseChatModel, prompt: str, context: Context,
                       revision: int) -> Drafted:
    """Ask for the file; while it cannot be used, show the model why and ask again."""
    messages: list[BaseMessage] = [HumanMessage(prompt)]
    drafted = Drafted()
    for attempt in range(1, DRAFT_ATTEMPTS + 1):
        reply = ask(model, messages)
        drafted.attempts, drafted.tokens = attempt, drafted.tokens + reply.tokens
        code, note = usable_code(reply.message, defines="Model")
        if code is None:
            problem: str | None = f"no complete Python file in the answer ({note})"
        else:
            drafted.text, drafted.validation = code, check_reference(code, DRAFT_PATH, context)
            problem = drafted.validation["error"]
        emit("reference_drafted", revision=revision, attempt=attempt, origin="model",
             ok=problem is None, error=problem, model_s=round(reply.seconds, 3),
             tokens=reply.tokens)
        if problem is None:
            return drafted
        drafted.note = problem
        answer = split_reasoning(reply.message).answer
        messages += [AIMessage(answer or "(no answer)"),
                     HumanMessage(DRAFT_FIX_PROMPT.format(error=problem))]
    return drafted


def check_reference(text: str, path: str, context: Context) -> ValidationResult:
    """Parse the file on the host, then run it in the sandbox as its own candidate."""
    error = structure_error(text, path)
    if error:
        return ValidationResult(ok=False, error=error, device="", gpu=False, seconds=0.0)
    started = perf_counter()
    verdict = run_reference({"text": text, "path": path}, context)
    seconds = round(perf_counter() - started, 3)
    usable = verdict.status != "bad_input" and verdict.error is None
    return ValidationResult(ok=usable, error=None if usable else reference_error(verdict),
                            device=str(verdict.device.get("name") or ""),
                            gpu=verdict.device.get("type") == "cuda", seconds=seconds)


def conversation(state: State) -> str:
    """What the person wrote, numbered, oldest first."""
    lines = [f"{number}. {text}" for number, text in enumerate(said(state), start=1)]
    if lines:
        lines[-1] += "  (newest)"
    return "\n".join(lines)


def said(state: State) -> list[str]:
    """Every message of the person, and a `request` given with no message saying it."""
    words = [m.text.strip() for m in state.get("messages") or [] if isinstance(m, HumanMessage)]
    request = state.get("request")
    if (request and request != (state.get("search_inputs") or {}).get("request")
            and request.strip() not in words):
        words.append(request.strip())
    return words


def intent(state: State) -> str:
    """Everything the person asked for on this thread, oldest first: a change request or a
    follow-up adds to what was asked before ("make it causal" is not the whole kernel)."""
    return " Then: ".join(said(state))


def describe(new: ReferenceDraft) -> str:
    """The draft as a chat message: what it is for, whether it runs, the file."""
    validation = new["validation"]
    checked = (f"It runs in the sandbox ({validation['device']}, {validation['seconds']:.1f} s)."
               if validation["ok"] else f"It cannot be used yet: {validation['error']}")
    return (f"Reference problem, draft {new['revision']}: {new['request']}\n{checked}\n\n"
            f"```python\n{new['text'].rstrip()}\n```\n\nAnswer yes to search for a kernel "
            "for it, send an edited file, or say what to change.")


def _current_section(state: State, current: ReferenceDraft | None) -> str:
    """The reference to revise: the draft under review, else the previous search's problem."""
    if current is not None:
        validation = current["validation"]
        status = "" if validation["ok"] else f" (it cannot be used: {validation['error']})"
        return DRAFT_CURRENT.format(status=status, reference=current["text"].rstrip())
    problem = state.get("problem")
    if problem:
        return DRAFT_CURRENT.format(status=f" (`{problem['path']}`, used by the last search)",
                                    reference=problem["text"].rstrip())
    return ""


def _fail(error: str) -> Command[Any]:
    """End this turn with the error; the thread keeps its state, so the next message retries.

    It skips finish: no search ran, and the previous search's artifacts stay as they are.
    """
    return Command(update={"error": error, "messages": [AIMessage(
        f"I could not draft the reference problem: {error}")]}, goto=END)
