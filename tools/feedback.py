"""Caps on every text fed back to a model, in one place, and where a cut text is kept whole.

A model's context is finite, and one long paste (a traceback of 40k characters, advice that runs
on, a whole reply echoed back) crowds out the problem and the evidence that matter. So each kind
of feedback has a cap; a text over its cap is cut, and the cut text says how long the whole was
and which file holds all of it (under the run directory when there is one). Host side only: the
standard library, so every layer above tools/ can use it.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
from pathlib import Path
from typing import Literal

ADVICE_CHARS = 3_000  # the critic model's instructions for the next attempt
VERDICT_CHARS = 4_000  # a verdict summary (the critic's input; the test tool's answer)
DIAGNOSIS_CHARS = 4_000  # the diagnosis and its evidence lines in the next prompt
TOOL_OUTPUT_CHARS = 4_000  # one tool call's answer
ERROR_CHARS = 2_000  # an error message or traceback (its end is kept: that is where it failed)
CODE_CHARS = 12_000  # code shown again (the last attempt, the best kernel so far)
ANSWER_CHARS = 2_000  # a model's own answer sent back to it in a re-ask
NOTE_CHARS = 600  # why an answer held no usable code
HISTORY_LINE_CHARS = 300  # one line of the search's history

Keep = Literal["head", "tail"]


class FeedbackStore:
    """Where cut texts are kept whole: `directory`, else a temporary folder made on first use."""

    def __init__(self, directory: Path | None = None) -> None:
        self._directory = Path(directory) if directory is not None else None
        self._lock = threading.Lock()

    @property
    def directory(self) -> Path:
        with self._lock:
            if self._directory is None:
                self._directory = Path(tempfile.mkdtemp(prefix="kernel-agent-feedback-"))
            self._directory.mkdir(parents=True, exist_ok=True)
            return self._directory

    def keep(self, text: str, name: str) -> Path:
        """Write `text` to a file named by `name` and its content (the same text, the same file,
        so a resumed run does not pile up copies); its path."""
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        path = self.directory / f"{name}-{digest}.txt"
        if not path.exists():
            path.write_text(text)
        return path

    def clip(self, text: str, cap: int, name: str, keep: Keep = "head") -> str:
        """`text` when it fits in `cap` characters; else its head (or tail) with a note naming
        the file that holds all of it, `cap` characters in all."""
        if len(text) <= cap:
            return text
        note = (f"[cut: {len(text)} characters in all, {'first' if keep == 'head' else 'last'} "
                f"ones shown; the whole text is in {self.keep(text, name)}]")
        room = max(0, cap - len(note) - 5)
        if keep == "head":
            return f"{text[:room]}\n... {note}"
        return f"{note} ...\n{text[len(text) - room:]}"


def clip(text: str, cap: int, name: str, store: FeedbackStore | None = None,
         keep: Keep = "head") -> str:
    """`FeedbackStore.clip` on `store`, or on the process's temporary store."""
    return (store or _default()).clip(text, cap, name, keep)


_shared: list[FeedbackStore] = []
_shared_lock = threading.Lock()


def _default() -> FeedbackStore:
    with _shared_lock:
        if not _shared:
            _shared.append(FeedbackStore())
        return _shared[0]
