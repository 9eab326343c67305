"""On a GPU host: what a worker settles of Triton before it forks (tools/triton_settled.py) leaves
CUDA uninitialised, and a forked process launches Triton kernels with the driver made before
the fork, building no utilities module of its own into its (empty) cache."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.gpu

FORKING = r"""
import os, sys, tempfile, traceback
import torch, triton, triton.language as tl
import kernel_agent.tools.triton_settled
from triton.runtime import driver

assert not torch.cuda.is_initialized(), "CUDA initialised before the fork"
settled = driver.active

@triton.jit
def double(x_ptr, n, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    tl.store(x_ptr + offsets, tl.load(x_ptr + offsets, mask=mask) * 2, mask=mask)

pid = os.fork()
if pid == 0:
    code = 1
    try:
        cache = tempfile.mkdtemp()
        os.environ["TRITON_CACHE_DIR"] = cache
        x = torch.arange(1000, dtype=torch.float32, device="cuda")
        double[(4,)](x, 1000, BLOCK=256)
        assert torch.equal(x.cpu(), torch.arange(1000, dtype=torch.float32) * 2)
        assert driver.active is settled, "the forked process made a driver of its own"
        built = [f for _, _, files in os.walk(cache) for f in files if "cuda_utils" in f]
        assert not built, built
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_a_process_forked_after_settling_launches_kernels_with_the_settled_driver(
        tmp_path) -> None:
    script = tmp_path / "forking.py"  # Triton reads a kernel's source from its file
    script.write_text(FORKING)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
