"""One sandbox, and one compile per test candidate, shared by the tool tests of a session."""

from __future__ import annotations

import pytest

from kernel_agent.sandbox import Sandbox
from kernel_agent.tools.build_report import BuildReport
from tests.tools.helpers import compiled


@pytest.fixture(scope="package")
def sandbox(local_sandbox: Sandbox) -> Sandbox:
    return local_sandbox


@pytest.fixture(scope="package")
def dot_sm90(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> BuildReport:
    return compiled(sandbox, "matmul_problem.py", "matmul_dot.py",
                    tmp_path_factory.mktemp("dot90"), "sm_90")


@pytest.fixture(scope="package")
def copy_build(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> BuildReport:
    return compiled(sandbox, "copy_problem.py", "copy_vectorised.py",
                    tmp_path_factory.mktemp("copy"))

