"""Making the docker backend's image, with no registry needed.

`make_debian_base` is the offline recipe for a base image: debootstrap a minimal Debian with
python3-venv from a Debian mirror, then `docker import` the tree. `build_image` assembles a build
context (the Dockerfile beside this module, the host's torch and triton wheels fetched by pip,
and the kernel_agent packages a task needs) and builds it. Both reuse what they can: the wheels
stay in a cache directory between builds and Docker's layer cache does the rest, so a rebuild
after a code change only redoes the small project layer.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import docker
from docker.errors import ImageNotFound

from kernel_agent.sandbox.docker import DEFAULT_IMAGE
from kernel_agent.sandbox.environment import user_cache_root

BASE_IMAGE = "kernel-agent-debian:bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
BASE_ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8")
PACKAGES = ("kernel_agent", "kernel_agent.sandbox", "kernel_agent.tools")
DIGEST_LABEL = "kernel-agent.context"
HOST_WHEELS = ("torch", "triton", "numpy")  # numpy: the Triton interpreter needs it

Log = Callable[[str], None]


def cache_dir() -> Path:
    root = os.environ.get("KERNEL_AGENT_IMAGE_CACHE")
    return Path(root) / "sandbox-image" if root else user_cache_root() / "sandbox-image"


def image_exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
        return True
    except ImageNotFound:
        return False


def make_debian_base(client: docker.DockerClient, *, tag: str = BASE_IMAGE,
                     suite: str = "bookworm", mirror: str = DEBIAN_MIRROR,
                     log: Log = print) -> None:
    """debootstrap a minimal Debian with Python and import it as `tag` (needs root)."""
    if shutil.which("debootstrap") is None:
        raise RuntimeError("debootstrap is not installed (apt-get install debootstrap)")
    with tempfile.TemporaryDirectory(prefix="kernel-agent-rootfs-") as tmp:
        rootfs, archive = Path(tmp) / "rootfs", Path(tmp) / "rootfs.tar"
        log(f"debootstrap {suite} from {mirror} ...")
        subprocess.run(["debootstrap", "--variant=minbase", "--include=python3,python3-venv",
                        suite, str(rootfs), mirror], check=True, stdout=subprocess.DEVNULL)
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            shutil.rmtree(rootfs / junk, ignore_errors=True)
        subprocess.run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(archive), "."],
                       check=True)
        log(f"docker import as {tag} ...")
        repository, _, version = tag.partition(":")
        client.api.import_image(src=str(archive), repository=repository, tag=version or "latest",
                                changes=[f"ENV {item}" for item in BASE_ENV])


def download_host_wheels(target: Path, log: Log = print) -> None:
    """pip-download the exact torch and triton this host runs, with their dependencies.

    Skipped when the cache already holds those exact versions (their dependencies came with
    them), so a rebuild asks no index at all.
    """
    versions = {name: importlib.metadata.version(name) for name in HOST_WHEELS}
    if all(any(target.glob(f"{name}-{version}-*.whl")) for name, version in versions.items()):
        return
    wanted = [f"{name}=={version}" for name, version in versions.items()]
    log(f"pip download {' '.join(wanted)} ...")
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
                    "--dest", str(target), *wanted], check=True)


def copy_packages(target: Path) -> None:
    """The kernel_agent packages a task imports, as plain source (no build step, no tools)."""
    shutil.rmtree(target, ignore_errors=True)
    for package in PACKAGES:
        spec = importlib.util.find_spec(package)
        assert spec is not None and spec.submodule_search_locations
        source = Path(next(iter(spec.submodule_search_locations)))
        destination = target.joinpath(*package.split("."))
        destination.mkdir(parents=True)
        for path in source.glob("*.py"):
            shutil.copy2(path, destination / path.name)


def context_digest(context: Path, base_id: str) -> str:
    """What the image is made of: base image, Dockerfile, project sources, wheel files.

    Stored as a label, so an unchanged context skips the build, and with it sending the
    wheels (hundreds of MB) to the engine again.
    """
    digest = hashlib.sha256(base_id.encode())
    for path in sorted(context.rglob("*")):
        if not path.is_file():
            continue
        digest.update(str(path.relative_to(context)).encode())
        if path.suffix == ".whl":  # a wheel's name and size identify it; no need to read it
            digest.update(str(path.stat().st_size).encode())
        else:
            digest.update(path.read_bytes())
    return digest.hexdigest()


def build_image(client: docker.DockerClient, *, base: str = BASE_IMAGE,
                tag: str = DEFAULT_IMAGE, host_wheels: bool = True,
                log: Log = print) -> None:
    """Assemble the context and build `tag` on `base`; cached layers make rebuilds quick."""
    context = cache_dir()
    wheels = context / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    if host_wheels:
        download_host_wheels(wheels, log)
    else:
        for path in wheels.glob("*.whl"):
            path.unlink()
    copy_packages(context / "project")
    shutil.copy2(Path(__file__).with_name("Dockerfile"), context / "Dockerfile")
    digest = context_digest(context, client.images.get(base).id)
    if image_exists(client, tag) and client.images.get(tag).labels.get(DIGEST_LABEL) == digest:
        log(f"{tag} is up to date")
        return
    log(f"docker build {tag} on {base} ...")
    for chunk in client.api.build(path=str(context), tag=tag, buildargs={"BASE_IMAGE": base},
                                  labels={DIGEST_LABEL: digest}, rm=True, forcerm=True,
                                  decode=True):
        if "error" in chunk:
            raise RuntimeError(f"docker build failed: {chunk['error'].strip()}")
        text = chunk.get("stream", "").strip()
        if text.startswith("Step "):
            log(text)
