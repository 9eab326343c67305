"""Which NVIDIA GPUs the local pool may hand out, found through NVML (nvidia-ml-py).

NVML answers without creating a CUDA context, so asking never costs the host process a GPU's
memory nor makes later forks unsafe. Without the nvidia-ml-py package, `nvidia-smi` (which uses
NVML too) is asked instead; neither (no driver, a CPU machine) means no GPUs.
"""

from __future__ import annotations

import os
import shutil
import subprocess


def gpu_count() -> int:
    try:
        import pynvml
    except ImportError:
        return gpu_count_from_smi()
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        return 0
    try:
        return pynvml.nvmlDeviceGetCount()
    finally:
        pynvml.nvmlShutdown()


def gpu_count_from_smi() -> int:
    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        listing = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(1 for line in listing.stdout.split() if line.strip().isdigit())


def discover_gpus() -> list[int]:
    """Indices of the GPUs present, narrowed by CUDA_VISIBLE_DEVICES when it lists indices."""
    present = list(range(gpu_count()))
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return present
    wanted = [int(item) for item in visible.split(",") if item.strip().isdigit()]
    return [index for index in wanted if index in present]
