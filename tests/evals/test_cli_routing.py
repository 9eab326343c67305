"""`kernel-agent eval SUITE ...` and `kernel-agent eval report RUN_DIR` side by side: the group
falls back to `run`; bad input is refused before any work with exit status 2."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from kernel_agent.agent.cli import app

from .conftest import CANDIDATES, SUITE


@pytest.fixture
def cli(monkeypatch, tmp_path):
    for name in ("KERNEL_AGENT_PROFILE", "KERNEL_AGENT_BASE_URL", "KERNEL_AGENT_MODEL",
                 "KERNEL_AGENT_CONFIG", "NVIDIA_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("COLUMNS", "400")  # help text unwrapped
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["eval", *map(str, args)])


def test_help_names_both_commands(cli):
    group = cli("--help")
    assert group.exit_code == 0 and "run" in group.output and "report" in group.output
    run = cli("run", "--help")
    assert run.exit_code == 0 and "level_L_problem_<id>_sample_0_kernel.py" in run.output
    assert cli(SUITE, "--help").output == run.output, "a suite path means `run`"


@pytest.mark.parametrize(("args", "message"), [
    (("/no/such/suite", "--candidates", CANDIDATES), "is not a folder"),
    ((SUITE, "--candidates", SUITE / "level1"), "no file in"),
    ((SUITE, "--candidates", CANDIDATES, "--problems", "5-2"), "the range is empty"),
    ((SUITE, "--candidates", CANDIDATES, "--level", "9"), "matches the selection"),
    ((SUITE, "--candidates", CANDIDATES, "--gpus", "7"), "not found"),
    ((SUITE, "--candidates", CANDIDATES, "--budget", "soon"), "bad duration"),
    ((SUITE, "--candidates", CANDIDATES, "--resume"), "--resume needs --out"),
    ((SUITE, "--profile", "local"), "No model endpoint is configured"),
])
def test_bad_input_is_refused_up_front(cli, tmp_path, args, message):
    result = cli(*args, "--out", tmp_path / "run") if "--resume" not in args else cli(*args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert not (tmp_path / "run" / "report.json").exists()
