"""What the verifier's own library work leaves in a process: none of it may read as a
candidate's patching, nor keep the resident judge from its next task.

On a GPU every verdict runs torch's profiler and the first one of a problem compiles the
reference with torch.compile. Whatever either changes in the guarded namespaces, or the threads
they leave, would end the resident process after every task, as if a candidate had patched
torch. Both run here on the CPU, in a fresh interpreter that has imported what a GPU worker
preloads, as the resident process has.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from kernel_agent.sandbox.pool import default_preload

SCRIPT = """
import importlib, json, sys, threading
for module in sys.argv[1:]:
    importlib.import_module(module)
import torch
from kernel_agent.tools import integrity
from kernel_agent.tools.baseline_compile import EarlyCompile
from kernel_agent.tools.timed_check import InputSet

before, threads = integrity.snapshot_callables(), set(threading.enumerate())
with torch.autograd.profiler.profile(use_kineto=True):  # as integrity.cuda_kernel_events, on CPU
    torch.ones(64).add_(1)
model = lambda x: torch.relu(x * 2 + 1).sum(-1)
x = torch.randn(8, 64)
compiled, error = EarlyCompile(model, InputSet([x])).result()  # on a thread, as the judge does
assert error is None and torch.allclose(compiled(x), model(x)), error
try:  # torch 2.11's Inductor makes a hidden progress bar for every compile; this one may not
    from tqdm import tqdm
    tqdm(total=1, disable=True).close()
except ImportError:
    pass
print(json.dumps({"changed": integrity.replaced_callables(before),
                  "threads": sorted(t.name for t in set(threading.enumerate()) - threads)}))
"""


def last_line_after(preload: tuple[str, ...], script: str) -> str:
    """What `script` prints last in a fresh interpreter that first imported `preload`."""
    done = subprocess.run([sys.executable, "-c", script, *preload], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "TRITON_INTERPRET": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def library_leftovers(preload: tuple[str, ...]) -> dict[str, list[str]]:
    return json.loads(last_line_after(preload, SCRIPT))


def test_profiler_and_compiled_baseline_leave_a_gpu_worker_process_fit() -> None:
    """The baseline compiled on a thread of its own, as the judge compiles it beside the
    candidate's process, joined afterwards."""
    assert library_leftovers(default_preload(0, resident=True)) == {"changed": [], "threads": []}


def test_without_the_gpu_preload_the_compiled_baseline_would_end_the_process() -> None:
    """The case the preload is for: torch.compile imports torch._dynamo, which wraps
    torch.manual_seed."""
    leftovers = library_leftovers(default_preload(None, resident=False))
    assert "torch.manual_seed" in leftovers["changed"]


def test_gpu_servers_that_keep_no_process_leave_dynamo_unloaded() -> None:
    """A server whose every task gets a new process (a Docker container's) has nothing to keep
    pristine: it does not import Dynamo up front, and the verifier's profiler does not either."""
    preload = default_preload(0, resident=False)
    script = ("import importlib, sys\n"
              "for module in sys.argv[1:]:\n"
              "    importlib.import_module(module)\n"
              "import torch\n"
              "with torch.autograd.profiler.profile(use_kineto=True):\n"
              "    torch.ones(64).add_(1)\n"
              "print('torch._dynamo' in sys.modules)\n")
    assert "triton" in preload
    assert last_line_after(preload, script) == "False"


def test_a_gpu_servers_forks_inherit_tritons_installation_key() -> None:
    """Computed before the fork, Triton's key of its installation (a hash of its half-gigabyte
    library) is in every forked process's memory: no task process reads the library again."""
    script = ("import importlib, os, sys, time\n"
              "for module in sys.argv[1:]:\n"
              "    importlib.import_module(module)\n"
              "try:\n"
              "    from triton.runtime.cache import triton_key\n"
              "except ImportError:\n"
              "    from triton.compiler.compiler import triton_key\n"
              "read, write = os.pipe()\n"
              "if os.fork() == 0:\n"
              "    started = time.perf_counter()\n"
              "    triton_key()\n"
              "    os.write(write, f'{triton_key.cache_info().hits} "
              "{time.perf_counter() - started:.3f}'.encode())\n"
              "    os._exit(0)\n"
              "os.wait()\n"
              "print(os.read(read, 100).decode())\n")
    for resident in (True, False):
        hits, seconds = last_line_after(default_preload(0, resident=resident), script).split()
        assert int(hits) == 1 and float(seconds) < 0.05, (resident, hits, seconds)
