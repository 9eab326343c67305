"""The conversation API the chat CLI stands on: turns in order, one thread per run directory, and
a run that stopped midway continued without redoing what had finished."""

from __future__ import annotations

from typing import Any

import pytest

from kernel_agent.graphs.conversation import Conversation, NotYourTurn, Review
from kernel_agent.graphs.intake import REFERENCE_CHECK_PATH
from kernel_agent.graphs.runner import SearchResult
from kernel_agent.sandbox import Limits, Sandbox, TaskResult
from kernel_agent.tools.check import VERIFY_TASK
from tests.openai_server import ScriptedOpenAIServer

from .chat_scripts import PROSE, REFERENCE, chat_script
from .conftest import chat_model
from .scripts import CORRECT, is_draft


class FailsOnce:
    """A real sandbox whose first candidate verification raises, as a lost worker host would."""

    name = "fails-once"

    def __init__(self, inner: Sandbox) -> None:
        self.inner, self.failed = inner, False

    def run(self, task: str, payload: dict[str, Any], limits: Limits | None = None
            ) -> TaskResult:
        candidate = payload.get("candidate") or {}
        if (task == VERIFY_TASK and candidate.get("path") != REFERENCE_CHECK_PATH
                and not self.failed):
            self.failed = True
            raise RuntimeError("the verifier's host went away")
        return self.inner.run(task, payload, limits)

    def close(self) -> None:
        """The package's sandbox is closed by its fixture."""


def test_turns_in_order_and_a_stopped_run_is_resumed(tmp_path, sandbox):
    with ScriptedOpenAIServer(chat_script()) as server:
        options = {"model": chat_model(server), "mode": "closed_loop", "branches": 1,
                   "rounds": 2, "sandbox": FailsOnce(sandbox)}
        with Conversation(tmp_path / "run", **options) as talk:
            with pytest.raises(NotYourTurn, match="no drafted reference waits"):
                talk.answer("yes")
            review = talk.say(PROSE)
            assert isinstance(review, Review) and review.reference == REFERENCE
            with pytest.raises(NotYourTurn, match="waits for an answer"):
                talk.say("and another thing")
            with pytest.raises(RuntimeError, match="host went away"):
                talk.answer("yes")
            thread_id = talk.thread_id
            asked = len(server.requests)
        with Conversation(tmp_path / "run", **options) as again:
            assert again.continued and again.thread_id == thread_id
            assert again.pending() is None and again.unfinished()
            result = again.resume()
            requests = server.requests[asked:]

    assert isinstance(result, SearchResult) and result.status == "pass"
    assert result.chosen is not None and result.chosen["code"] == CORRECT
    assert requests == [], "the model's answer was checkpointed; only verification ran again"
    assert sum(is_draft(r) for r in server.requests) == 1
