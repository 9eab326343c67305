"""Usage arithmetic, and counting answers from models called without the tracker."""

from __future__ import annotations

import threading

import pytest
from langchain_core.messages import AIMessage

from kernel_agent.agent.models import resolve_config
from kernel_agent.agent.usage import Prices, Usage, UsageTracker


def answer(prompt: int, completion: int, reasoning: int) -> AIMessage:
    return AIMessage("x", usage_metadata={
        "input_tokens": prompt, "output_tokens": completion,
        "total_tokens": prompt + completion, "output_token_details": {"reasoning": reasoning}})


def test_messages_add_up_across_threads() -> None:
    tracker = UsageTracker()

    def count() -> None:
        for _ in range(500):
            tracker.add_message(answer(3, 5, 2))

    threads = [threading.Thread(target=count) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert tracker.total == Usage(prompt_tokens=12000, completion_tokens=20000,
                                  reasoning_tokens=8000, requests=4000)
    assert tracker.total.total_tokens == 32000


def test_answers_without_usage_are_counted_as_unreported() -> None:
    tracker = UsageTracker()
    tracker.add_message(AIMessage("no numbers from this provider"))
    assert tracker.total == Usage(requests=1, unreported=1)


def test_cost_uses_prices_per_million_tokens_from_the_config() -> None:
    config = resolve_config(overrides={"price_input_per_mtok": 0.5,
                                       "price_output_per_mtok": 2.0}, env={})
    prices = config.prices()
    assert prices == Prices(0.5, 2.0)
    usage = Usage(prompt_tokens=2_000_000, completion_tokens=1_000_000, reasoning_tokens=900_000)
    assert usage.cost(prices) == pytest.approx(3.0)
    assert resolve_config(env={}).prices() is None
