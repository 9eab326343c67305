"""`kernel-agent sandbox ...`: building and checking the sandbox backends."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console

from kernel_agent.agent.cli_style import App, SandboxName

sandbox_app = App(no_args_is_help=True,
                  help="Build and check the sandboxes candidates run in.")
console = Console()


def docker_client() -> Any:
    try:
        import docker
    except ImportError:
        console.print("[red]the docker backend needs the Docker SDK: pip install docker[/]")
        raise typer.Exit(2) from None
    try:
        return docker.from_env()
    except docker.errors.DockerException as exc:
        console.print(f"[red]no Docker engine reachable:[/] {exc}")
        raise typer.Exit(2) from None


@sandbox_app.command()
def base(
    tag: Annotated[str, typer.Option(help="name of the base image")] = (
        "kernel-agent-debian:bookworm"),
    suite: Annotated[str, typer.Option(help="Debian suite")] = "bookworm",
    mirror: Annotated[str, typer.Option(help="Debian mirror")] = "http://deb.debian.org/debian",
    force: Annotated[bool, typer.Option(help="remake it even if it exists")] = False,
) -> None:
    """Make a Debian base image offline: debootstrap, then docker import (needs root)."""
    from kernel_agent.sandbox.image import image_exists, make_debian_base

    client = docker_client()
    if image_exists(client, tag) and not force:
        console.print(f"{tag} exists (use --force to remake it)")
        return
    make_debian_base(client, tag=tag, suite=suite, mirror=mirror, log=console.print)
    console.print(f"[green]made {tag}[/]")


@sandbox_app.command()
def build(
    base: Annotated[str, typer.Option(
        help="base image: a CUDA/PyTorch image on GPU hosts, or the Debian base from "
             "`kernel-agent sandbox base`")] = "kernel-agent-debian:bookworm",
    tag: Annotated[str, typer.Option(help="name of the sandbox image")] = (
        "kernel-agent-sandbox:latest"),
    host_wheels: Annotated[bool, typer.Option(
        help="install this host's torch and triton (turn off when the base has them)")] = True,
    offline_base: Annotated[bool, typer.Option(
        help="first make the Debian base with debootstrap if it is missing")] = False,
) -> None:
    """Build the image the docker backend runs candidates in."""
    from kernel_agent.sandbox.image import build_image, image_exists, make_debian_base

    client = docker_client()
    if offline_base and not image_exists(client, base):
        make_debian_base(client, tag=base, log=console.print)
    build_image(client, base=base, tag=tag, host_wheels=host_wheels, log=console.print)
    console.print(f"[green]built {tag}[/]")


@sandbox_app.command()
def check(
    sandbox: Annotated[SandboxName, typer.Option(help="backend to check")] = "local",
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Run a probe task in a sandbox and show what a candidate sees there."""
    from kernel_agent.sandbox import Limits, get_sandbox

    try:
        box = get_sandbox(sandbox)
    except ValueError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    try:
        result = box.run("kernel_agent.sandbox.probe:report", {}, Limits(wall_s=60))
    finally:
        box.close()
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
    elif result.ok:
        assert result.value is not None
        for key, value in result.value.items():
            console.print(f"{key:>18}: {value}")
        for note in result.notes:
            console.print(f"[yellow]note:[/] {note}")
    else:
        assert result.failure is not None
        console.print(f"[red]{result.failure.kind}:[/] {result.failure.message}")
    raise typer.Exit(0 if result.ok else 1)
