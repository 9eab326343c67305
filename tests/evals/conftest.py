"""The KernelBench-format test suite, its candidates, and the verdicts derived for them by hand.

tests/data/kernelbench/KernelBench holds nine problems in two levels; candidates/ one file per
problem except level2/3 (missing on purpose). What each candidate is, and so what the verifier
must say about it on a CPU:

    level1/1_Scale_add         correct Triton kernel              pass
    level1/2_ReLU              leaky ReLU where ReLU is asked     fail, wrong values
    level1/3_Row_sum           launch misses an argument          fail, runtime_error
    level1/4_Softmax           torch.softmax, no kernel of its own fail, no_custom_kernel,
                                                                  static_torch_compute
    level1/5_Square_large      correct, but the problem has only GPU-sized inputs: bad input
    level1/6_GELU              imports a Triton name that does not exist: does not load
    level2/1_Add_ReLU          correct fused kernel               pass
    level2/2_Scale_shift_clamp writes into its input, returns it  fail, inputs_modified and
                                                                  output_aliases_input
    level2/3_Mul_sum           no candidate file                  no_candidate
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

from tests.conftest import DATA

KERNELBENCH = DATA / "kernelbench"
SUITE = KERNELBENCH / "KernelBench"
CANDIDATES = KERNELBENCH / "candidates"

# problem id -> (outcome, status, compiled, numerically correct, correct, flags, error kind)
EXPECTED: dict[str, tuple[str, str | None, bool | None, bool | None, bool | None, list[str],
                          str | None]] = {
    "level1/1_Scale_add": ("evaluated", "pass", True, True, True, [], None),
    "level1/2_ReLU": ("evaluated", "fail", True, False, False, [], None),
    "level1/3_Row_sum": ("evaluated", "fail", True, False, False, [], "runtime_error"),
    "level1/4_Softmax": ("evaluated", "fail", True, True, False,
                         ["no_custom_kernel", "static_torch_compute"], None),
    "level1/5_Square_large": ("bad_input", "bad_input", None, None, None, [], "bad_problem"),
    "level1/6_GELU": ("evaluated", "fail", False, False, False, [], "load_error"),
    "level2/1_Add_ReLU": ("evaluated", "pass", True, True, True, [], None),
    "level2/2_Scale_shift_clamp": ("evaluated", "fail", True, True, False,
                                   ["inputs_modified", "output_aliases_input"], None),
    "level2/3_Mul_sum": ("no_candidate", None, False, False, False, [], None),
}


def run_cli(*args: str | Path, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """`kernel-agent ...` as a user runs it, in a child process."""
    command = [sys.executable, "-m", "kernel_agent.agent.cli", *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def start_cli(*args: str | Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "kernel_agent.agent.cli", *map(str, args)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())


def rows(run_dir: Path, query: str) -> list[dict[str, Any]]:
    """Rows of results.sqlite, read the way any outside reader would (WAL allows it mid-run)."""
    uri = f"file:{run_dir / 'results.sqlite'}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True, timeout=30)) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(query)]
