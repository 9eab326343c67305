"""K branches run at once: with K = 8 and a model that takes 1 s per answer, a round takes
about one answer's time plus verification, not eight answers' time. Each branch follows its own
idea: the model's, topped up from the built-in list when it proposes too few."""

from __future__ import annotations

from kernel_agent.graphs import run_search
from tests.openai_server import ScriptedOpenAIServer

from .conftest import chat_model
from .scripts import BROKEN, PROBLEM, Router, idea_of, kind, r1

K = 8
DELAY_S = 1.0
MODEL_IDEAS = ["block of 256", "block of 1024", "grid-stride loop", "vector loads",
               "autotuned block"]


def test_eight_branches_answer_and_verify_in_parallel(tmp_path, sandbox):
    events: list[dict] = []
    # A compile error verifies in a fraction of a second, so the round's time is mostly the
    # model's; the run stops after one round (rounds=1).
    router = Router(lambda round_, idea, request: r1(BROKEN), MODEL_IDEAS, delay_s=DELAY_S)
    with ScriptedOpenAIServer(router) as server:
        result = run_search(PROBLEM, tmp_path / "run", model=chat_model(server),
                            mode="closed_loop", branches=K, rounds=1, sandbox=sandbox,
                            on_event=events.append)
        records = server.records

    assert result.stop_reason == "round budget used (1 rounds)"
    assert len(result.candidates) == K and {c["branch"] for c in result.candidates} == set(
        range(K))
    started = next(e["time"] for e in events if e["event"] == "round_started")
    finished = next(e for e in events if e["event"] == "round_finished")
    generated = [e for e in events if e["event"] == "candidate_generated"]
    assert len(generated) == K and all(e["model_s"] >= DELAY_S for e in generated)
    model_phase = max(e["time"] for e in generated) - started
    assert model_phase < 2.5 * DELAY_S, f"{K} answers of {DELAY_S} s took {model_phase:.2f} s"
    # Verification is CPU work on the sandbox's two workers: the rest of the round is the graph.
    verify_phase = finished["time"] - max(e["time"] for e in generated)
    assert finished["seconds"] - verify_phase < 2.5 * DELAY_S
    assert finished["seconds"] < K * DELAY_S, f"one round took {finished['seconds']} s"

    generate = [r for r in records if r.body and kind(r.body) == "generate"]
    arrivals = sorted(r.at for r in generate)
    assert len(arrivals) == K and arrivals[-1] - arrivals[0] < 0.5 * DELAY_S, "all asked at once"

    ideas = [idea_of(r.body) for r in generate]
    assert len(set(ideas)) == K, "every branch has its own idea"
    assert set(MODEL_IDEAS) < set(ideas), "the model's ideas come first, topped up to K"
    plan = next(e for e in events if e["event"] == "plan_ready")
    assert plan["source"] == "model+built-in"

