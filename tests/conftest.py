"""Shared test set-up: GPU and Docker requirements that CI can turn from skips into failures.

CI sets KERNEL_AGENT_REQUIRE_DOCKER=1, so a missing Docker engine fails the run instead of
skipping the Docker tests; on the GPU host KERNEL_AGENT_REQUIRE_GPU=1 does the same for `gpu`,
KERNEL_AGENT_REQUIRE_SERVER=1 for the tests that start `langgraph dev`,
KERNEL_AGENT_REQUIRE_RAY=1 for those that start a local Ray cluster, and
KERNEL_AGENT_REQUIRE_BROWSER=1 for those that open a report in headless Chromium.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kernel_agent.sandbox import Sandbox, get_sandbox

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
EXAMPLES = ROOT / "examples"


def gpu_present() -> bool:
    import torch

    return torch.cuda.is_available()


def docker_engine_present() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "info"], capture_output=True, timeout=30)
    return probe.returncode == 0


def require(what: str, present: bool, variable: str) -> None:
    if present:
        return
    if os.environ.get(variable):
        pytest.fail(f"{what} is required here ({variable} is set) but not available")
    pytest.skip(f"needs {what}; set {variable}=1 to make this a failure")


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("gpu"):
        require("an NVIDIA GPU", gpu_present(), "KERNEL_AGENT_REQUIRE_GPU")
    if item.get_closest_marker("docker"):
        require("a Docker engine", docker_engine_present(), "KERNEL_AGENT_REQUIRE_DOCKER")


@pytest.fixture(scope="session")
def local_sandbox() -> Iterator[Sandbox]:
    """The local sandbox of the tool and GPU tests, started once a session: its worker imports
    torch and triton a single time, and its judge compiles its comparison kernel once."""
    shared = get_sandbox("local")
    yield shared
    shared.close()


@pytest.fixture(scope="session")
def langgraph_cli() -> list[str]:
    """The command that runs langgraph-cli with its in-memory server (the `server` extra)."""
    present = all(importlib.util.find_spec(name) for name in (
        "langgraph_cli", "langgraph_api", "langgraph_runtime_inmem"))
    require("langgraph-cli[inmem]", present, "KERNEL_AGENT_REQUIRE_SERVER")
    return [sys.executable, "-m", "langgraph_cli"]


@pytest.fixture(scope="session")
def chromium() -> str:
    """The headless browser that opens reports: Chromium from the OS packages."""
    found = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)
    require("Chromium (apt-get install chromium)", found is not None,
            "KERNEL_AGENT_REQUIRE_BROWSER")
    assert found is not None
    return found


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own cache directory, so baselines never leak between tests."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("KERNEL_AGENT_CACHE", str(cache))
    return cache
