"""One sandbox per backend for the whole session, and the bait the hostile candidates look for.

Fake API keys are put into this process's environment, and a loopback listener and a
world-writable host directory are offered to the candidates (through KERNEL_AGENT_SANDBOX_*
variables, the one prefix a sandbox passes on), before any sandbox is made: whatever a candidate
could reach, it would find.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kernel_agent.sandbox import Sandbox, get_sandbox
from tests.sandbox.helpers import FAKE_KEYS, Listener


@pytest.fixture(scope="session")
def bait() -> Iterator[dict[str, Any]]:
    """Also a private TMPDIR for the session, so the task directories counted are ours alone."""
    listener = Listener()
    directory = tempfile.mkdtemp(prefix="kernel-agent-bait-")
    os.chmod(directory, 0o777)
    private_tmp = tempfile.mkdtemp(prefix="kernel-agent-tests-")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TMPDIR", private_tmp)
        patch.setattr(tempfile, "tempdir", private_tmp)
        for name, value in FAKE_KEYS.items():
            patch.setenv(name, value)
        patch.setenv("KERNEL_AGENT_SANDBOX_HOSTILE_PORT", str(listener.port))
        patch.setenv("KERNEL_AGENT_SANDBOX_HOSTILE_DIR", directory)
        yield {"listener": listener, "dir": Path(directory)}
    listener.socket.close()
    shutil.rmtree(directory, ignore_errors=True)
    shutil.rmtree(private_tmp, ignore_errors=True)


def build_docker_image() -> None:
    """Rebuild the image from this source tree (only the project layer, when the rest is cached)."""
    import docker

    from kernel_agent.sandbox.image import build_image

    build_image(docker.from_env(), log=lambda _: None)


@pytest.fixture(scope="session")
def docker_sandbox(bait: dict[str, Any]) -> Iterator[Sandbox]:
    build_docker_image()
    sandbox = get_sandbox("docker")
    yield sandbox
    sandbox.close()


@pytest.fixture(scope="session")
def local_sandbox(bait: dict[str, Any]) -> Iterator[Sandbox]:
    sandbox = get_sandbox("local", cpu_workers=2)
    yield sandbox
    sandbox.close()


@pytest.fixture(params=["local", pytest.param("docker", marks=pytest.mark.docker)])
def sandbox(request: pytest.FixtureRequest) -> Sandbox:
    return request.getfixturevalue(f"{request.param}_sandbox")
