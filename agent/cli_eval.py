"""`kernel-agent eval ...`: KernelBench-format evaluation runs and their reports."""

from __future__ import annotations

import typer

eval_app = typer.Typer(no_args_is_help=True,
                       help="Evaluate the agent or existing kernels on a KernelBench-format suite.")
