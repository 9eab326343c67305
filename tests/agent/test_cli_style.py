"""Every `--help` as a person reads it at 80 and 120 columns: conventional, complete, uncut."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import typing

import pytest

from kernel_agent.agent import cli_style
from kernel_agent.agent.models import PROFILES
from kernel_agent.sandbox import BACKENDS as SANDBOXES
from kernel_agent.tools.problem import BACKENDS

COMMANDS = ["", "solve", "chat", "check", "tune", "eval", "eval run", "eval report", "memory",
            "memory list", "memory show", "memory export", "memory import", "sandbox",
            "sandbox base", "sandbox build", "sandbox check", "serve-mcp"]
CODE = ("import sys\nfrom kernel_agent.agent.cli import app\n"
        "for words in sys.argv[1:]:\n"
        "    print('=== ' + words)\n"
        "    try:\n"
        "        app([*words.split(), '--help'], prog_name='kernel-agent')\n"
        "    except SystemExit:\n"
        "        pass\n")


def helps(columns: int) -> dict[str, str]:
    """Each command's help, from one process (the CLI imports once)."""
    env = {**os.environ, "COLUMNS": str(columns), "TERM": "dumb", "NO_COLOR": "1"}
    out = subprocess.run([sys.executable, "-c", CODE, *COMMANDS], capture_output=True,
                         text=True, env=env, timeout=120, check=True).stdout
    pages = re.split(r"^=== (.*)$", out, flags=re.M)[1:]
    return dict(zip(pages[::2], pages[1::2], strict=True))


@pytest.fixture(scope="module", params=[80, 120])
def pages(request: pytest.FixtureRequest) -> tuple[int, dict[str, str]]:
    return request.param, helps(request.param)


def test_help_is_conventional_and_fits(pages):
    columns, by_command = pages
    assert set(by_command) == set(COMMANDS)
    for command, text in by_command.items():
        assert "<bool>" not in text, command
        assert not re.search(r"\{\w+\}", text), command  # usage names arguments in upper case
        assert "[default: (" not in text, command  # one way of writing defaults
        assert "…" not in text, command  # nothing cut
        assert all(len(line) <= columns for line in text.splitlines()), command
    assert "Usage: kernel-agent check [OPTIONS] PROBLEM CANDIDATE" in by_command["check"]
    assert "Usage: kernel-agent solve [OPTIONS] PROBLEM" in by_command["solve"]
    assert "Usage: kernel-agent memory show [OPTIONS] ID" in by_command["memory show"]
    assert "--version" in by_command[""]


def test_choices_and_defaults_are_listed(pages):
    _, by_command = pages
    assert "<triton|cuda>" in by_command["solve"]
    for command in ("solve", "check", "tune", "sandbox check", "serve-mcp"):
        assert "<local|docker>" in by_command[command], command
    flat = {command: " ".join(text.replace("│", " ").split())
            for command, text in by_command.items()}
    assert "[default: 15m]" in flat["solve"] and "[default: 15m]" in flat["chat"]
    assert "[default: the problem's]" in flat["solve"]
    assert "[default: all found]" in flat["eval run"]  # once eaten as Rich markup
    assert "'kernel-agent[ray]'" in flat["eval run"]
    assert "nim-r1, deepseek, openai or local" in flat["solve"]


def test_later_paragraphs_flow_and_layouts_keep_their_lines(pages):
    _, by_command = pages
    tune = [line.strip() for line in by_command["tune"].splitlines()]
    # the exit-status paragraph is flowed, not broken where the docstring was
    assert "2 bad input." not in tune
    layouts = [line.strip() for line in by_command["eval run"].splitlines()]
    for layout in ("DIR/levelL/<id>_<name>.py", "DIR/level_L_problem_<id>_sample_0_kernel.py",
                   "DIR/<id>_<name>/kernel.py"):
        assert layout in layouts


def test_version():
    result = subprocess.run([sys.executable, "-m", "kernel_agent.agent.cli", "--version"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert re.fullmatch(r"kernel-agent \d+\.\d+\.\d+\S*\n", result.stdout)


def test_choice_lists_match_the_registries():
    assert set(typing.get_args(cli_style.SandboxName)) == set(SANDBOXES)
    assert set(typing.get_args(cli_style.BackendName)) == BACKENDS
    assert all(name in cli_style.PROFILE_HELP for name in PROFILES)


def test_flowed_keeps_marked_paragraphs():
    text = "First line\nstill first.\n\nSecond\nparagraph.\n\n\b\nkept\n  as is"
    assert cli_style.flowed(text) == ("First line\nstill first.\n\nSecond paragraph.\n\n"
                                      "kept\n  as is")
