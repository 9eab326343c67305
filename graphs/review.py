"""Review: the drafted reference waits for the person, then goes to the search or is redrafted.

`interrupt()` hands the draft (the file, where it ran, the error when it cannot be used) to
whoever drives the graph: the chat CLI, LangGraph Studio, a program. The run resumes with
`Command(resume=answer)`, where the answer is an approval ("yes", "y", "", True), a complete
edited file, or words asking for a change; programs may say which explicitly with
{"approve": True}, {"edit": source} or {"change": words}.

An approved draft is saved in the search's own folder of the run directory
(search_<N>/reference.py, with reference.diff against the previous search's reference) and goes
back to intake, which starts the search. An edited file is checked in the sandbox first and,
when it runs, is approved as it is; when it does not, it is shown again with the error. Words go
back to the draft node. An approval of a draft that cannot be used is refused: the draft is
shown again with the reason (`refusal`), and nothing is redrafted until the person says what to
change or sends a file.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, Literal

from langchain_core.messages import HumanMessage
from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt

from kernel_agent.graphs.context import Context, context_of
from kernel_agent.graphs.draft import DRAFT_PATH, check_reference
from kernel_agent.graphs.events import emit
from kernel_agent.graphs.searches import search_folder
from kernel_agent.graphs.state import ReferenceDraft, State

APPROVALS = frozenset({"", "y", "yes", "ok", "approve", "approved"})
QUESTION = ("Search for a kernel for this reference? Answer yes, send an edited file, or say "
            "what to change.")
# An answer with these lines is a file, even one too broken to parse (the check says why).
_SOURCE = re.compile(r"^(?:class\s+Model\b|def\s+get_inputs\s*\()", re.M)


@dataclass(frozen=True)
class Answer:
    """What the person decided: approve, edit (with the file) or change (with the words)."""

    kind: Literal["approve", "edit", "change"]
    text: str = ""


def review(state: State, runtime: Runtime[Context]
           ) -> Command[Literal["intake", "draft", "review"]]:
    context = context_of(runtime)
    current = state.get("reference_draft")
    assert current is not None, "review runs after draft"
    answer = read_answer(interrupt(review_request(current)))
    if answer.kind == "change":
        return Command(update={"reference_draft": {**current, "status": "redraft"},
                               "messages": [HumanMessage(answer.text)]}, goto="draft")
    if answer.kind == "edit":
        validation = check_reference(answer.text, DRAFT_PATH, context)
        emit("reference_drafted", revision=current["revision"] + 1, attempt=1,
             origin="edited", ok=validation["ok"], error=validation["error"], model_s=0.0,
             tokens=0)
        current = ReferenceDraft(**{**current, "text": answer.text, "origin": "edited",
                                    "revision": current["revision"] + 1, "attempts": 0,
                                    "validation": validation})
        if not validation["ok"]:
            return Command(update={"reference_draft": current}, goto="review")
    elif not current["validation"]["ok"]:
        return Command(update={"reference_draft": {**current, "status": "refused"}},
                       goto="review")
    return _approve(current, state, context)


def review_request(current: ReferenceDraft) -> dict[str, Any]:
    """The interrupt's value: everything a person or a program needs to decide."""
    refusal = None
    if current["status"] == "refused":
        refusal = (f"Draft {current['revision']} cannot be approved: it cannot be used "
                   f"({current['validation']['error']}). Say what to change, or send an edited "
                   "file.")
    return {"kind": "reference_review", "reference": current["text"],
            "request": current["request"], "validation": dict(current["validation"]),
            "revision": current["revision"], "origin": current["origin"],
            "question": QUESTION, "refusal": refusal}


def read_answer(value: Any) -> Answer:
    """The resume value as a decision; a value that means nothing is a clear error."""
    if value is None or value is True:
        return Answer("approve")
    if isinstance(value, dict):
        if value.get("approve") is True:
            return Answer("approve")
        for kind in ("edit", "change"):
            text = value.get(kind)
            if isinstance(text, str) and text.strip():
                return Answer(kind, text)
        raise ValueError("a review answer given as a dict needs 'approve': true, 'edit': "
                         f"<file> or 'change': <words>; got keys {sorted(value)}")
    if isinstance(value, str):
        if value.strip().lower() in APPROVALS:
            return Answer("approve")
        return Answer("edit" if _SOURCE.search(value) else "change", value)
    raise TypeError("a review answer is a string (yes, an edited file, or a change "
                    f"request), True or a dict, not {type(value).__name__}")


def _approve(current: ReferenceDraft, state: State, context: Context) -> Command[Any]:
    """Save the reference in the folder where the search's artifacts go, with its diff against
    the previous search's reference, and hand it to intake."""
    searches = state.get("searches", [])
    folder = search_folder(len(searches) + 1)
    run_dir = context.run_directory()
    path = f"{folder}/reference.py"
    if run_dir:
        path = str(run_dir.write(path, current["text"]))
        previous = (searches[-1].get("problem") or {}) if searches else {}
        if previous.get("text"):
            run_dir.write(f"{folder}/reference.diff",
                          reference_diff(previous["text"], current["text"],
                                         previous.get("path", "before"), path))
    request = current["request"]
    emit("reference_approved", path=path, revision=current["revision"], request=request)
    approved = ReferenceDraft(**{**current, "status": "approved", "path": path,
                                 "request": request})
    return Command(update={"reference_draft": approved, "problem_text": current["text"],
                           "problem_path": path, "request": request}, goto="intake")


def reference_diff(before: str, after: str, before_name: str, after_name: str) -> str:
    """What a change did to the reference, as a unified diff ("" when nothing changed)."""
    return "".join(difflib.unified_diff(before.splitlines(keepends=True),
                                        after.splitlines(keepends=True),
                                        fromfile=before_name, tofile=after_name))
