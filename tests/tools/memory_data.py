"""Problems and verdicts for the kernel memory tests (tools and CLI)."""

from __future__ import annotations

import copy
from dataclasses import asdict
from typing import Any

from kernel_agent.tools.verdict import Stats, Timing

SCALE_ADD = '''"""Scale x by two and add b."""
import torch
from torch import nn

KERNEL_AGENT = {"request": "Scale x by two and add b.", "atol": 1e-3, "dtype": "float32"}


class Model(nn.Module):
    def forward(self, x, b):
        return 2 * x + b


def get_inputs():
    return [torch.randn({shape}), torch.randn({shape})]


def get_init_inputs():
    return []
'''


def scale_add(shape: str = "64, 128") -> str:
    return SCALE_ADD.replace("{shape}", shape)


def timed(verdict: dict[str, Any], eager: float | None,
          gpu: str = "NVIDIA H100 80GB HBM3") -> dict[str, Any]:
    """A passing verdict as a GPU host writes it: measured on `gpu`, `eager` times faster."""
    out = copy.deepcopy(verdict)
    out["device"] = {**out["device"], "type": "cuda", "name": gpu}
    if eager is not None:
        out["timing"] = asdict(Timing(candidate=Stats(0.1, 0.01, 100, 0.09), eager=None,
                                      speedup_eager=eager, speedup_compiled=eager / 2))
    return out


def variant(source: str, number: int) -> str:
    """A distinct kernel source: memory keys entries on the exact text."""
    return f"{source}\n# variant {number}\n"
