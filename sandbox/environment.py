"""The environment a task sees: an allow-list, then a deny-list for anything that looks secret.

The allow-list keeps what Python, CUDA and Triton need; the deny-list is a second fence for names
that an allowed prefix would let through (NVIDIA_API_KEY matches NVIDIA_, and must not pass).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

ENV_ALLOW = frozenset({
    "PATH", "LANG", "LC_ALL", "LC_CTYPE", "TERM", "TZ", "PYTHONPATH", "VIRTUAL_ENV",
    "CUDA_HOME", "CUDA_PATH", "LD_LIBRARY_PATH", "TRITON_INTERPRET", "TRITON_PTXAS_PATH",
    "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
    "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "CUDA_LAUNCH_BLOCKING",
})
ENV_ALLOW_PREFIXES = ("NVIDIA_", "KERNEL_AGENT_SANDBOX_")
SECRET_NAME = re.compile(
    r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|AUTH|COOKIE|SESSION)"
    r"|^(AWS|GOOGLE|GCP|GCLOUD|AZURE|OPENAI|ANTHROPIC|HF|HUGGING|NIM|DEEPSEEK|GITHUB|GH)_",
    re.IGNORECASE,
)


def is_secret(name: str) -> bool:
    return bool(SECRET_NAME.search(name))


def scrubbed_env(source: Mapping[str, str] | None = None,
                 extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Allow-listed, non-secret names from `source` (default: this process), plus `extra`."""
    source = os.environ if source is None else source
    env = {
        name: value
        for name, value in source.items()
        if (name in ENV_ALLOW or name.startswith(ENV_ALLOW_PREFIXES)) and not is_secret(name)
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def task_env(base: Mapping[str, str], workdir: str) -> dict[str, str]:
    """The environment of one task: caches and temporary files all inside its work directory."""
    return {
        **base,
        "HOME": workdir,
        "TMPDIR": workdir,
        "TRITON_CACHE_DIR": os.path.join(workdir, ".triton"),
        "TORCHINDUCTOR_CACHE_DIR": os.path.join(workdir, ".inductor"),
        "XDG_CACHE_HOME": os.path.join(workdir, ".cache"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def user_cache_root() -> Path:
    """The per-user cache folder (XDG_CACHE_HOME, else ~/.cache) for kernel-agent's files."""
    return Path(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")) / "kernel-agent"


@contextmanager
def variables_set(values: Mapping[str, str]) -> Iterator[None]:
    """This process's environment variables `values` set for a while, then put back as they
    were (removed where they were unset): where a library reads its settings from them at use."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
