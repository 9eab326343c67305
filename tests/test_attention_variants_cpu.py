"""The relative-position candidate in benchmarks/attention_variants/ under the Triton interpreter:
the softmax of every key, both where each row's maximum can be fixed before the key loop and
where inputs of large norm make the program fall back to the online rule."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from .conftest import ROOT

KERNEL = ROOT / "benchmarks" / "attention_variants" / "relative_position_fixed_max.py"
RUN = """
import importlib.util, json, math, os, sys
os.environ["TRITON_INTERPRET"] = "1"
import torch
spec = importlib.util.spec_from_file_location("fixed_max", sys.argv[1])
kernel = importlib.util.module_from_spec(spec)
spec.loader.exec_module(kernel)
scale, seq_len = float(sys.argv[2]), int(sys.argv[3])
torch.manual_seed(0)
q, k, v = (torch.randn(1, 2, seq_len, 64) for _ in range(3))
q, k = q * scale, k * scale
pos = torch.arange(seq_len, dtype=torch.float32)
scores = q @ k.transpose(-2, -1) / math.sqrt(64) + (pos[:, None] - pos[None, :])
expected = torch.softmax(scores, -1) @ v
out = kernel.ModelNew()(q, k, v)
# How far, in base 2, the bound on later keys lies above the first key block's row maximum.
log2e = 1 / math.log(2)
first = (scores[..., :kernel.BLOCK_N] - pos[:, None]).amax(-1) * log2e
bound = (q.norm(dim=-1) * k.norm(dim=-1).amax(-1, keepdim=True) / math.sqrt(64) * log2e
         - kernel.BLOCK_N * log2e)
print(json.dumps({"error": (out - expected).abs().max().item(),
                  "span": (bound - first).amax().item()}))
"""


@pytest.mark.parametrize(("scale", "seq_len", "fixed"), [(1.0, 200, True), (30.0, 200, False),
                                                           (1.0, 40, False)])
def test_every_key_is_attended_with_the_maximum_fixed_or_not(scale, seq_len, fixed):
    done = subprocess.run([sys.executable, "-c", RUN, str(KERNEL), str(scale), str(seq_len)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["error"] < 1e-4, result
    if seq_len >= 64:  # a full first block: which rule the rest of the keys ran under
        assert (result["span"] < 64) == fixed, result
    assert math.isfinite(result["error"])
