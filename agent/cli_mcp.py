"""`kernel-agent serve-mcp`: the MCP server's command (agent/mcp_server.py does the serving)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from kernel_agent.agent.cli_style import SandboxName


def serve_mcp(
    transport: Annotated[Literal["stdio", "http"], typer.Option(
        help="stdio for a client that starts the server; http for streamable HTTP")] = "stdio",
    host: Annotated[str, typer.Option(help="address to listen on (http)")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on (http)")] = 8765,
    work_dir: Annotated[Path | None, typer.Option(
        show_default="the cache's mcp/",
        help="where tool outputs and search runs are kept")] = None,
    sandbox: Annotated[SandboxName, typer.Option(help="where candidates run")] = "local",
) -> None:
    """Serve compile, test, profile, inspect, check and optimize_kernel over MCP.

    The model endpoint for optimize_kernel comes from the usual configuration
    (KERNEL_AGENT_PROFILE, KERNEL_AGENT_BASE_URL, KERNEL_AGENT_MODEL, the config file).
    """
    from kernel_agent.agent.mcp_server import serve

    serve(transport, host, port, work_dir, sandbox)
