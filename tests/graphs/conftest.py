"""Fixtures for the graph tests: one warm sandbox for the session, models on a scripted server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from langchain_core.language_models import BaseChatModel

from kernel_agent.agent.models import ModelConfig, make_chat_model
from kernel_agent.sandbox import Sandbox, get_sandbox
from tests.graphs.scripts import warm
from tests.openai_server import ScriptedOpenAIServer


@pytest.fixture(scope="package")
def sandbox() -> Iterator[Sandbox]:
    """Two CPU workers, started once for these tests and closed after them, so later suites
    that count processes see none of ours."""
    box = get_sandbox("local", cpu_workers=2)
    warm(box)
    yield box
    box.close()


def chat_model(server: ScriptedOpenAIServer, **overrides: object) -> BaseChatModel:
    """The real ChatOpenAI client (through the project's model layer) on the scripted server."""
    settings = {"timeout_s": 30.0, "max_retries": 1, **overrides}
    return make_chat_model(ModelConfig(profile="local", model="scripted-model",
                                       base_url=server.base_url, **settings))
