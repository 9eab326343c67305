"""A candidate that hangs costs one attempt: its verification ends at the wall limit with a
`timeout` verdict, the next round is told so, and the search goes on."""

from __future__ import annotations

from kernel_agent.graphs import run_search
from tests.openai_server import ScriptedOpenAIServer

from .conftest import chat_model
from .scripts import CORRECT, PROBLEM, Router, r1, requests_of

LOOPING = """\
import torch
from torch import nn


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        while True:
            pass
"""


def test_a_hanging_candidate_costs_one_attempt(tmp_path, sandbox):
    script = Router(lambda round_, idea, request: r1(LOOPING if round_ == 1 else CORRECT),
                    ["one block per program"])
    with ScriptedOpenAIServer(script) as server:
        result = run_search(PROBLEM, tmp_path / "run", model=chat_model(server), branches=1,
                            rounds=2, sandbox=sandbox, verify_timeout_s=3)
        generate = requests_of(server.requests, "generate")

    assert [c["status"] for c in result.candidates] == ["fail", "pass"]
    hung = result.candidates[0]["verdict"]
    assert hung["error"]["kind"] == "timeout" and hung["wall_limit"]["seconds"] == 3
    assert result.candidates[0]["verify_s"] < 15
    told = generate[1]["messages"][-1]["content"]
    assert "timeout" in told and "3 s wall-clock limit" in told
    assert result.status == "pass"
