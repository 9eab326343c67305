"""A scripted model for conversations: it drafts scale-add references and writes the kernel that
matches whichever reference a generate prompt holds.

The first request drafts REFERENCE (y = 2x + b); a request that revises the current reference (a
follow-up or a change request) gets REVISED (y = 3x + b). Kernels: CORRECT for the first,
CORRECT_REVISED for the second, so a search that used the wrong reference fails verification.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.openai_server import Scripted, message_text

from .scripts import CORRECT, REVISION_MARK, Router, r1, with_drafts

PROSE = "I need y = 2*x + b on float32 vectors, elementwise, fast."
FOLLOW_UP = "Now scale x by three instead of two."
IDEAS = ["one block of 256 elements per program"]

REFERENCE = '''\
"""y = 2 * x + b, drafted from a request."""

import torch
from torch import nn


class Model(nn.Module):
    def forward(self, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return 2 * x + b


def get_inputs() -> list[torch.Tensor]:
    return [torch.randn(4096, 4096), torch.randn(4096, 4096)]


def get_init_inputs() -> list:
    return []


def get_small_inputs() -> list[torch.Tensor]:
    return [torch.randn(16, 63), torch.randn(16, 63)]


KERNEL_AGENT = {"request": "Scale x by two and add b, elementwise, in float32.",
                "dtype": "float32"}
'''
REVISED = REFERENCE.replace("2 * x + b", "3 * x + b").replace("by two", "by three")
CORRECT_REVISED = CORRECT.replace("2 * x + b", "3 * x + b")
assert REVISED != REFERENCE and CORRECT_REVISED != CORRECT


def drafter(request: dict[str, Any]) -> Scripted:
    """A revision of the current reference gets REVISED, a first draft REFERENCE."""
    return r1(REVISED if REVISION_MARK in message_text(request) else REFERENCE,
              thought="The shapes and dtype come from the request.")


def kernel(round_: int, idea: str, request: dict[str, Any]) -> Scripted:
    """The kernel for the reference in the prompt."""
    return r1(CORRECT_REVISED if "return 3 * x + b" in message_text(request) else CORRECT)


def chat_script(draft: Callable[[dict[str, Any]], Scripted] = drafter
                ) -> Callable[[dict[str, Any]], Scripted]:
    return with_drafts(Router(kernel, IDEAS), draft)
