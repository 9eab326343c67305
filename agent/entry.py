"""The `kernel-agent` console script.

Most of a `check`'s wall time is its sandbox server's start (importing torch, on a GPU Triton
too), so for `check` that server is started first, before the command line's own imports and
argument parsing, which then go on beside it (sandbox.start_one_shot_early).
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:2] == ["check"]:
        from kernel_agent.sandbox import start_one_shot_early

        start_one_shot_early()
    from kernel_agent.agent.cli import main as command_line

    command_line()
