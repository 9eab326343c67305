"""`kernel-agent sandbox ...`: building and checking the sandbox backends."""

from __future__ import annotations

import typer

sandbox_app = typer.Typer(no_args_is_help=True,
                          help="Build and check the sandboxes candidates run in.")
