"""On a GPU host (local backend): a CUDA fault is a `cuda_error` for that candidate alone.

Run with `KERNEL_AGENT_REQUIRE_GPU=1 pytest -m gpu tests/sandbox`.
"""

from __future__ import annotations

import pytest

from kernel_agent.sandbox import Limits, LocalSandbox
from tests.sandbox.helpers import CORRECT, verify

pytestmark = pytest.mark.gpu


def test_illegal_memory_access_is_a_cuda_error_and_the_pool_recovers() -> None:
    sandbox = LocalSandbox(workers_per_gpu=1)
    try:
        assert sandbox.gpus, "no GPU found through NVML or nvidia-smi"
        limits = Limits(wall_s=300, gpu_ids=(sandbox.gpus[0],))
        verdict = verify(sandbox, "illegal_memory_access.py", limits)
        assert verdict.error is not None and verdict.error.kind == "cuda_error", verdict.summary()
        assert "illegal memory access" in verdict.error.message
        server = next(s for s in sandbox.pool.servers if s.gpu == sandbox.gpus[0])
        assert server.process is not None
        pid = server.process.pid
        after = verify(sandbox, CORRECT, limits)
        assert after.passed, after.summary()
        assert after.device.get("type") == "cuda"
        assert server.process is not None and server.process.pid == pid  # same worker served both
    finally:
        sandbox.close()
