"""One sandbox for the GPU verifier tests: its worker imports torch once, and a CUDA fault in one
candidate must leave it able to verify the next."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kernel_agent.sandbox import Sandbox, get_sandbox


@pytest.fixture(scope="package")
def sandbox() -> Iterator[Sandbox]:
    shared = get_sandbox("local")
    yield shared
    shared.close()
