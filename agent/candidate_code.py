"""The candidate file in a model's reply, or the reason there is none.

One place decides what code a reply holds, so every node that reads a model's code (generate,
the tool loop, draft) takes the same code and gives the model the same reason when there is none.
The reason is written for the model: it goes into the next request, which asks again.

Where the code is taken from, in order: the answer (after the last `</think>`, or the content
when the reasoning came in `reasoning_content`); when the answer holds no block defining the
class, the last complete such block of the reasoning. A reply cut at the length limit (or ending
inside an unclosed `<think>` or fence) yields a complete block of its answer that the cut came
after; it is never mined for a draft in its reasoning, and otherwise it yields nothing and the
model is asked for the file alone. The file must define the class asked for (`ModelNew`; `Model`
for a drafted reference), so an echoed reference is never taken for a candidate.
"""

from __future__ import annotations

from langchain_core.messages import AIMessage

from kernel_agent.agent.code_blocks import code_blocks
from kernel_agent.agent.extract import defines_class, extract_code
from kernel_agent.agent.reasoning import Reasoned, split_reasoning

__all__ = ["usable_code"]

SEND_FILE = "send only the complete file in one ```python block, no reasoning"


def usable_code(message: AIMessage, *, defines: str = "ModelNew") -> tuple[str | None, str]:
    """The complete file in a model's reply that defines class `defines`, or None and why not."""
    reasoned = split_reasoning(message)
    if reasoned.truncated and not reasoned.answer:
        return None, f"{_how_cut(reasoned)} while still reasoning, before any answer; {SEND_FILE}"
    if not reasoned.answer and not reasoned.reasoning:
        return None, "the reply was empty"
    got = extract_code(reasoned.answer, defines=defines)
    if got.code is not None and defines_class(got.code, defines):
        if got.truncated:
            return None, _cut_reason(reasoned)
        after = f"; {_how_cut(reasoned)} after it" if reasoned.truncated else ""
        return got.code, got.note + after
    if reasoned.truncated:
        return None, _cut_reason(reasoned)
    thought = extract_code(reasoned.reasoning, defines=defines, unfenced=False)
    if thought.code is not None and defines_class(thought.code, defines) \
            and not thought.truncated:
        return thought.code, (f"the answer has no class {defines}; took it from the reasoning: "
                              f"{thought.note}")
    return None, _missing_reason(reasoned, got.code, defines)


def _how_cut(reasoned: Reasoned) -> str:
    if reasoned.length_limit:
        return "the reply was cut at the length limit"
    if reasoned.in_reasoning:
        return "the reply stopped inside an unclosed <think>"
    return "the reply ends inside a code block that never closes"


def _cut_reason(reasoned: Reasoned) -> str:
    return f"{_how_cut(reasoned)} before the code was complete; {SEND_FILE}"


def _missing_reason(reasoned: Reasoned, answer_code: str | None, defines: str) -> str:
    """Why neither the answer nor the reasoning holds the file, in the model's terms;
    `answer_code` is what the answer holds that looks like Python, if anything."""
    nor = ", nor does the reasoning" if reasoned.reasoning else ""
    if not reasoned.answer:
        return (f"the reply holds only reasoning, no answer, and the reasoning has no complete "
                f"code block defining class {defines}; {SEND_FILE}")
    if answer_code is None:
        return f"the answer holds no Python code{nor}; {SEND_FILE}"
    shown = [b.code for b in code_blocks(reasoned.answer)] or [answer_code]
    echoed = defines != "Model" and any(defines_class(code, "Model") for code in shown)
    only = " (its code only echoes the reference class Model)" if echoed else ""
    return f"the answer's code defines no class {defines}{only}{nor}; {SEND_FILE}"
