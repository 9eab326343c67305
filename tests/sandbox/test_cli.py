"""The command line over the sandboxes: `kernel-agent sandbox check`, and `kernel-agent check`
with the docker backend."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from kernel_agent.agent.cli import app
from kernel_agent.sandbox import Sandbox
from tests.sandbox.helpers import CORRECT, PROBLEM


def test_sandbox_check_shows_what_a_candidate_sees() -> None:
    result = CliRunner().invoke(app, ["sandbox", "check", "--sandbox", "local", "--json"])
    assert result.exit_code == 0, result.output
    seen = json.loads(result.output)["value"]
    assert seen["capabilities"] == "0000000000000000" and seen["no_new_privs"]
    assert not seen["root_writable"]


@pytest.mark.docker
def test_check_command_runs_the_candidate_in_docker(docker_sandbox: Sandbox) -> None:
    result = CliRunner().invoke(app, ["check", str(PROBLEM), str(CORRECT), "--sandbox", "docker",
                                      "--json", "--trials", "1", "--no-timing"])
    assert result.exit_code == 0, result.output
    verdict = json.loads(result.output)
    assert verdict["status"] == "pass"
    assert verdict["device"]["name"] == "cpu (Triton interpreter)"
