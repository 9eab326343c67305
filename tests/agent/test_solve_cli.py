"""`kernel-agent solve` end to end: the real command in a child process, the real langchain-openai
client against the scripted OpenAI server in this process, the real local sandbox.

Covered: a run that finds a kernel (and `kernel-agent check` agrees), an example problem with its
own kernel served as the answer under the live (terminal) view with `--backend triton`, the
guidance when no endpoint is configured, Ctrl-C in the middle of a round followed by the
printed resume command, and bad input.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT
from tests.graphs.scripts import CORRECT, OFF_BY_ONE, Router, r1, requests_of
from tests.openai_server import Reply, ScriptedOpenAIServer, message_text
from tests.sandbox.helpers import descendants

IDEA = "one block per program"
CLI = [sys.executable, "-m", "kernel_agent.agent.cli"]
PROBLEM_ARG = "tests/data/scale_add_problem.py"  # relative, as a user types it
RMSNORM = ROOT / "examples" / "rmsnorm"
CONTROL = "\x1b["


def environment(**extra: str) -> dict[str, str]:
    """This process's environment (with the test's private cache), wide enough that Rich does
    not wrap what the tests look for."""
    return {**os.environ, "COLUMNS": "200", **extra}


def solve(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "solve", *args], cwd=cwd, env=env or environment(),
                          capture_output=True, text=True, timeout=300)


def model_flags(server: ScriptedOpenAIServer) -> list[str]:
    return ["--profile", "local", "--base-url", server.base_url, "--model", "scripted-model"]


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_solve_writes_a_kernel_that_check_passes(tmp_path):
    out = tmp_path / "run"
    with ScriptedOpenAIServer(Router(lambda *_: r1(CORRECT), [IDEA])) as server:
        done = solve(PROBLEM_ARG, *model_flags(server), "--rounds", "1", "--branches", "1",
                     "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    best = out / "best_kernel.py"
    assert best.read_text() == CORRECT
    check = subprocess.run([*CLI, "check", PROBLEM_ARG, str(best)], cwd=ROOT,
                           env=environment(), capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stdout + check.stderr

    # stdout is a pipe: one plain line per notable event, no redrawing, no escape codes
    text = done.stdout
    assert CONTROL not in text
    verified = [line for line in text.splitlines() if line.startswith("round 1 branch 0:")]
    assert len(verified) == 1 and verified[0].startswith("round 1 branch 0: PASS [correct] r01-b0-")
    assert "round 1 started" in text and "new best: r01-b0-" in text
    summary = text[text.index("status: pass"):]
    assert "stop reason: correct kernel found" in summary
    assert "speedup: not timed on CPU" in summary
    assert "rounds: 1, candidates verified: 1, tokens: " in summary
    for name in ("best_kernel.py", "report.md", "candidates.jsonl", "run.json"):
        assert str(out / name) in summary
    assert [c["status"] for c in lines(out / "candidates.jsonl")] == ["pass"]


def test_example_problem_in_the_live_view_with_backend_restricted(tmp_path):
    kernel = (RMSNORM / "kernel.py").read_text()
    out = tmp_path / "run"
    with ScriptedOpenAIServer(Router(lambda *_: r1(kernel), [IDEA])) as server:
        done = solve(str(RMSNORM / "problem.py"), *model_flags(server), "--rounds", "1",
                     "--branches", "1", "--backend", "triton", "--out", str(out),
                     env=environment(TTY_COMPATIBLE="1", TERM="xterm-256color"))
        generate = requests_of(server.requests, "generate")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (out / "best_kernel.py").read_text() == kernel
    # --backend reached the model's instructions and the problem it was shown
    system = generate[0]["messages"][0]["content"]
    assert "Allowed kernel backends: triton." in system
    assert '"backends": ["triton"],' in message_text(generate[0])
    # a terminal: the Live view redraws in place and its last frame shows the verdict
    text = done.stdout
    assert f"{CONTROL}1A" in text and f"{CONTROL}2K" in text
    final = text[text.rindex("kernel-agent solve"):text.index("status: pass")]
    assert "pass" in final and "correct" in final and "best so far:" in final
    assert "1 round(s) run" in final


def test_no_endpoint_configured_prints_how_to_configure_one(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("KERNEL_AGENT_") and not k.endswith("_API_KEY")
           and k != "XDG_CONFIG_HOME"}
    env.update(HOME=str(home), COLUMNS="200")
    done = solve(str(ROOT / PROBLEM_ARG), env=env, cwd=tmp_path)
    assert done.returncode == 3, done.stdout + done.stderr
    message = done.stderr
    for needed in ("NVIDIA_API_KEY", "nim-r1", "--base-url", "KERNEL_AGENT_BASE_URL", "--model",
                   "vllm serve deepseek-ai/DeepSeek-R1-Distill-Qwen-32B",
                   "--profile local --base-url http://localhost:8000/v1"):
        assert needed in message, needed
    assert "Traceback" not in message + done.stdout
    assert not (tmp_path / "runs").exists(), "nothing is started without an endpoint"


def wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_ctrl_c_keeps_the_checkpoint_and_the_printed_command_resumes(tmp_path):
    """Round 1 verifies a wrong kernel; round 2's answer is slow, and Ctrl-C comes while it is
    awaited. The resumed run asks round 2 again, passes, and keeps round 1's verdict."""
    out = tmp_path / "run"
    asked: list[int] = []

    def kernels(round_: int, idea: str, request: dict) -> Reply:
        asked.append(round_)
        if round_ == 1:
            return r1(OFF_BY_ONE)
        if asked.count(2) == 1:  # the answer Ctrl-C interrupts
            return Reply(content=r1(CORRECT).content, delay_s=120)
        return r1(CORRECT)

    with ScriptedOpenAIServer(Router(kernels, [IDEA])) as server:
        with open(tmp_path / "first.out", "w") as log:
            child = subprocess.Popen(
                [*CLI, "solve", PROBLEM_ARG, *model_flags(server), "--rounds", "2",
                 "--branches", "1", "--out", str(out)],
                cwd=ROOT, env=environment(), stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: 2 in asked or child.poll() is not None, 120, "round 2's request")
            assert child.poll() is None, (tmp_path / "first.out").read_text()
            sandbox_processes = descendants(child.pid)
            assert sandbox_processes, "the sandbox's fork server runs under the command"
            child.send_signal(signal.SIGINT)
            code = child.wait(timeout=30)
        finally:
            child.kill()
            child.wait()
        first = (tmp_path / "first.out").read_text()
        assert code == 130, first
        assert "Traceback" not in first
        wait_for(lambda: not any(Path(f"/proc/{p}").exists() for p in sandbox_processes), 30,
                 "the interrupted run's sandbox processes to end")
        before = lines(out / "candidates.jsonl")
        assert [(c["round"], c["status"]) for c in before] == [(1, "fail")]

        hint = next(line.strip() for line in first.splitlines()
                    if line.strip().startswith("kernel-agent solve"))
        assert hint.startswith(f"kernel-agent solve {PROBLEM_ARG} --resume {out}")
        resumed = subprocess.run([*CLI, *shlex.split(hint)[1:]], cwd=ROOT,
                                 env=environment(TTY_COMPATIBLE="1", TERM="xterm-256color"),
                                 capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    after = lines(out / "candidates.jsonl")
    assert after[:1] == before, "the verdict from before Ctrl-C is kept, not redone"
    assert [(c["round"], c["status"]) for c in after] == [(1, "fail"), (2, "pass")]
    assert asked == [1, 2, 2], "round 1 was not asked again"
    assert "rounds: 2, candidates verified: 2" in resumed.stdout
    # the resumed run's live view starts from its checkpoint: round 1, the idea, the budget
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", resumed.stdout)
    final = plain[plain.rindex("kernel-agent solve"):plain.index("status: pass")]
    assert f"branch 0: {IDEA}" in final
    round_one = next(line for line in final.splitlines() if "r1 b0" in line)
    assert "fail" in round_one and "wrong output" in round_one
    assert re.search(r"\d+:\d\d / 15:00", final) and "not known" not in final
    assert (out / "best_kernel.py").read_text() == CORRECT
    assert before[0]["id"] in (out / "report.md").read_text()


def test_bad_input_exits_2_with_the_reason(tmp_path):
    """The checks themselves are in test_solve_setup.py; here the exit status and message."""
    missing = solve(str(tmp_path / "nope.py"), "--profile", "local", "--base-url",
                    "http://127.0.0.1:9/v1")
    assert missing.returncode == 2 and "bad input: problem file not found" in missing.stderr
    assert "Traceback" not in missing.stderr
    flag = solve(PROBLEM_ARG, "--branches", "0")
    assert flag.returncode == 2 and "--branches" in flag.stderr


def test_the_outcome_wraps_between_words_on_a_terminal_and_not_on_a_pipe():
    from io import StringIO

    from rich.console import Console

    from kernel_agent.agent.cli_solve import say

    reason = ("stop reason: correct kernel found; speed not measured: no GPU on this machine: "
              "correctness ran under the Triton interpreter on full-size inputs; speed needs a "
              "GPU")
    terminal = Console(file=StringIO(), width=80, force_terminal=True, color_system=None)
    say(terminal, reason)
    lines = terminal.file.getvalue().splitlines()
    assert len(lines) == 3 and all(len(line) <= 80 for line in lines)
    assert " ".join(line.strip() for line in lines) == reason, "no word broken"
    pipe = Console(file=StringIO(), width=80, force_terminal=False)
    say(pipe, reason)
    assert pipe.file.getvalue() == reason + "\n", "a log keeps the line whole"
