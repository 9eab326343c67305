"""Generate-and-evaluate on two problems through `kernel-agent eval`, with the model served by
the scripted OpenAI-compatible server: level1/1_Scale_add is solved in round 1; for
level2/1_Add_ReLU the first answer is the ReLU kernel of another problem (one input too few, so
it crashes), the critic is asked, and round 2 brings the right kernel. Every reply reports 100
prompt and 50 completion tokens, so the token and cost figures are known in advance."""

from __future__ import annotations

import threading
from typing import Any

from kernel_agent.agent.prompts import CRITIC_SYSTEM, PLAN_PROMPT
from tests.openai_server import Reply, ScriptedOpenAIServer, Usage, message_text

from .conftest import CANDIDATES, SUITE, read_json, rows, run_cli

PLAN_MARK = PLAN_PROMPT.split("{count}")[-1].strip()[:40]
CRITIC_MARK = CRITIC_SYSTEM[:40]
USAGE = Usage(prompt_tokens=100, completion_tokens=50)
PRICES = (2.0, 8.0)  # per million prompt / completion tokens


def fenced(path: str) -> Reply:
    code = (CANDIDATES / path).read_text()
    return Reply(content=f"Thinking about the grid.\n</think>\n\n```python\n{code}```\n",
                 usage=USAGE)


class Model:
    """Answers plan, critic and generate requests; generate by problem and by attempt."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.generated: dict[str, int] = {}
        self.kinds: list[str] = []

    def __call__(self, request: dict[str, Any]) -> Reply:
        text = message_text(request)
        kind = ("critic" if CRITIC_MARK in text else "plan" if PLAN_MARK in text
                else "generate")
        problem = "1_Scale_add" if "1_Scale_add.py`" in text else "1_Add_ReLU"
        with self.lock:
            self.kinds.append(f"{kind} {problem}")
            self.generated[problem] = self.generated.get(problem, 0) + (kind == "generate")
            attempt = self.generated[problem]
        if kind == "critic":
            return Reply(content="<think>Count the inputs.</think>\nTake x and b.", usage=USAGE)
        if kind == "plan":
            return Reply(content='<think>Ideas.</think>\n["one block per program"]', usage=USAGE)
        if problem == "1_Scale_add":
            return fenced("level1/1_Scale_add.py")
        return fenced("level1/2_ReLU.py" if attempt == 1 else "level2/1_Add_ReLU.py")


def test_two_problems_generated_and_evaluated(tmp_path):
    run_dir = tmp_path / "run"
    model = Model()
    env = {"KERNEL_AGENT_MODE": "closed_loop", "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "KERNEL_AGENT_PRICE_INPUT_PER_MTOK": str(PRICES[0]),
           "KERNEL_AGENT_PRICE_OUTPUT_PER_MTOK": str(PRICES[1])}
    with ScriptedOpenAIServer(model) as server:
        done = run_cli("eval", SUITE, "--level", "1", "--level", "2", "--problems", "1",
                       "--branches", "1", "--budget", "3m", "--rounds", "4", "--profile",
                       "local", "--base-url", server.base_url, "--model", "scripted-model",
                       "--out", run_dir, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(model.kinds) == sorted([
        "plan 1_Scale_add", "generate 1_Scale_add",
        "plan 1_Add_ReLU", "generate 1_Add_ReLU", "critic 1_Add_ReLU", "generate 1_Add_ReLU"])

    attempts = rows(run_dir, "SELECT * FROM attempts ORDER BY problem, attempt")
    assert [(a["problem"], a["attempt"], a["status"]) for a in attempts] == [
        ("level1/1_Scale_add", 0, "pass"),
        ("level2/1_Add_ReLU", 0, "fail"), ("level2/1_Add_ReLU", 1, "pass")]
    assert all(a["tokens"] == 150 for a in attempts), "one generate call per candidate"
    relu = [a for a in attempts if a["problem"] == "level2/1_Add_ReLU"]
    assert 0 < relu[0]["elapsed_s"] < relu[1]["elapsed_s"] < 180
    assert '"runtime_error"' in relu[0]["verdict"]

    report = read_json(run_dir / "report.json")
    head = report["headline"]
    assert (head["problems"], head["counted"], head["attempts"]) == (2, 2, 3)
    assert head["correct"] == {"count": 2, "total": 2, "share": 1.0}
    assert head["compiled"] == head["correct"]
    # 6 requests of 100 + 50 tokens; cost = (600 * 2 + 300 * 8) / 1e6
    assert head["tokens"] == {"prompt": 600, "completion": 300, "total": 900, "requests": 6,
                              "cost": 0.0036}
    assert report["levels"]["1"]["tokens"]["total"] == 300
    assert report["levels"]["2"]["tokens"]["total"] == 600
    first = {p["id"]: p["first_correct_s"] for p in report["problems"]}
    passed = {a["problem"]: a["elapsed_s"] for a in attempts if a["status"] == "pass"}
    assert first == passed
    curve = report["scaling_curve"]
    assert [p["correct"] for p in curve] == sorted(p["correct"] for p in curve)
    assert {p["correct"] for p in curve} == {0.0, 0.5, 1.0}
    assert report["run"]["settings"]["branches"] == 1
    assert report["run"]["model"]["model"] == "scripted-model"
    assert report["run"]["model"]["api_key"] is None, "no key is ever written"
    ledger = run_dir / "searches" / "level2__1_Add_ReLU" / "candidates.jsonl"
    assert len(ledger.read_text().splitlines()) == 2
    markdown = (run_dir / "report.md").read_text()
    assert "| tokens (prompt + completion) | 900 (6 requests) | 300 (2 requests) | 600 (4 " \
           "requests) |" in markdown
    assert "| cost | 0.0036 | 0.0012 | 0.0024 |" in markdown
    # a search's own measures belong to a generate report, and each row links its search
    assert "figures/scaling.png" in markdown and "| time to first correct kernel" in markdown
    relu_row = next(p for p in report["problems"] if p["id"] == "level2/1_Add_ReLU")
    assert relu_row["search"] == "searches/level2__1_Add_ReLU"
    assert relu_row["kernel"] == "problems/level2__1_Add_ReLU/kernel.py"
    kernel = (run_dir / relu_row["kernel"]).read_text()
    assert kernel == (CANDIDATES / "level2" / "1_Add_ReLU.py").read_text(), "the passing one"
    assert read_json(run_dir / relu_row["verdict"])["status"] == "pass"
    assert f"[kernel](<{relu_row['kernel']}>)" in markdown


def test_memory_is_used_by_default_and_off_with_no_memory(tmp_path):
    """A problem solved in one eval starts from the remembered kernel in the next (re-verified,
    recorded with the run's settings); --no-memory measures the agent from scratch."""
    env = {"KERNEL_AGENT_MODE": "closed_loop", "XDG_CONFIG_HOME": str(tmp_path / "config")}
    remembered = "A kernel remembered for exactly this problem"
    prompts: dict[str, list[str]] = {}
    for name, flags in (("first", ()), ("again", ()), ("fresh", ("--no-memory",))):
        model = Model()
        with ScriptedOpenAIServer(model) as server:
            done = run_cli("eval", SUITE, "--level", "1", "--problems", "1", "--branches", "1",
                           "--rounds", "1", "--profile", "local", "--base-url", server.base_url,
                           "--model", "scripted-model", "--out", tmp_path / name, *flags,
                           env=env)
            prompts[name] = [message_text(r) for r in server.requests
                             if PLAN_MARK not in message_text(r)]
        assert done.returncode == 0, done.stdout + done.stderr
        settings = read_json(tmp_path / name / "report.json")["run"]["settings"]
        assert settings["memory"] is (name != "fresh")

    assert not any(remembered in p for p in prompts["first"])
    assert any(remembered in p for p in prompts["again"])
    assert not any(remembered in p for p in prompts["fresh"])
    again = rows(tmp_path / "again", "SELECT * FROM attempts ORDER BY attempt")
    assert again[0]["status"] == "pass" and again[0]["tokens"] == 0, "the re-verified kernel"
