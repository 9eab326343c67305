"""One sandbox for the GPU verifier tests (the session's, shared with the tool tests): its worker
imports torch once, and a CUDA fault in one candidate must leave it able to verify the next."""

from __future__ import annotations

import pytest

from kernel_agent.sandbox import Sandbox


@pytest.fixture(scope="package")
def sandbox(local_sandbox: Sandbox) -> Sandbox:
    return local_sandbox
