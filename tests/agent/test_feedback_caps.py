"""Every text fed back to a model has a cap; a cut text names the file that holds all of it."""

from __future__ import annotations

from pathlib import Path

from kernel_agent.agent.critic import BestCode, Diagnosis, refined_prompt, write_advice
from kernel_agent.agent.models import ModelConfig, make_chat_model
from kernel_agent.tools.feedback import (
    ADVICE_CHARS,
    CODE_CHARS,
    DIAGNOSIS_CHARS,
    VERDICT_CHARS,
    FeedbackStore,
)
from tests.openai_server import Reply, ScriptedOpenAIServer

WHOLE = "the whole text is in "


def kept_file(text: str) -> Path:
    return Path(text.split(WHOLE, 1)[1].split("]", 1)[0])


def test_a_text_within_its_cap_is_unchanged_and_a_longer_one_is_cut_and_kept(tmp_path):
    store = FeedbackStore(tmp_path / "feedback")
    assert store.clip("short", 100, "x") == "short"
    long = "".join(f"line {i}\n" for i in range(2000))
    head = store.clip(long, 500, "advice")
    assert len(head) <= 500 and head.startswith("line 0\n")
    assert f"{len(long)} characters in all" in head
    assert kept_file(head).read_text() == long
    assert kept_file(head).parent == tmp_path / "feedback"
    tail = store.clip(long, 500, "traceback", keep="tail")
    assert len(tail) <= 500 and tail.endswith("line 1999\n")


def test_critic_advice_and_echoed_texts_are_capped_in_the_next_prompt(tmp_path):
    advice = "Rewrite the reduction so that every program handles one row. " * 700  # ~44k
    store = FeedbackStore(tmp_path / "feedback")
    with ScriptedOpenAIServer([Reply(content=f"<think>Hmm.</think>{advice}")]) as server:
        critic = make_chat_model(ModelConfig(profile="local", model="scripted-model",
                                             base_url=server.base_url, max_retries=0))
        code = "x = 1\n" * 5000  # 30k characters of code
        diagnosis = Diagnosis("runtime_error", "it raised", ("Traceback line\n" * 1000,))
        written = write_advice(critic, idea="rows", round=1, code=code,
                               verdict_text="verdict: FAIL\n" * 1000, diagnosis=diagnosis,
                               best=None, history=[], feedback=store)
        sent = server.requests[0]["messages"][-1]["content"]
    assert written.text.strip() == advice.strip(), "the advice itself is kept whole"
    assert len(sent) < CODE_CHARS + VERDICT_CHARS + DIAGNOSIS_CHARS + 2000

    prompt = refined_prompt(problem_text="class Model: ...", problem_path="p.py", request="",
                            idea="rows", round=1, previous_code=code, diagnosis=diagnosis,
                            advice=written.text, best=BestCode(code, 1, "fail"), history=[],
                            feedback=store)
    assert len(prompt) < ADVICE_CHARS + DIAGNOSIS_CHARS + 2 * CODE_CHARS + 2000
    advice_part = prompt.split("Advice for this round:\n", 1)[1]
    assert advice_part.startswith("Rewrite the reduction")
    assert kept_file(advice_part).read_text().strip() == advice.strip()
    assert kept_file(prompt.split("```python\n", 2)[2]).read_text() == code
