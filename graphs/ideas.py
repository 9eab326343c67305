"""Optimisation ideas for the branches: the model's, else built-in ones for the problem's family.

The plan asks the model for K distinct ideas so the branches do not all try the same thing. An
answer that is not a usable list (or too short) is topped up from a built-in list chosen by the
problem's operation family, read from the reference source without running it.
"""

from __future__ import annotations

import json
import re

FAMILY_PATTERNS = (
    ("attention", re.compile(r"attention|scaled_dot_product|softmax[\s\S]*(matmul|bmm|einsum)")),
    ("convolution", re.compile(r"conv[123]d|nn\.Conv|conv_transpose")),
    ("matmul", re.compile(r"matmul|\bmm\(|bmm|nn\.Linear|einsum|addmm|[\w)\]]\s*@\s*[\w(]")),
    ("reduction", re.compile(r"\.(sum|mean|amax|amin|max|min|norm|var|std|softmax|logsumexp|"
                             r"cumsum|prod)\(|rsqrt|LayerNorm|RMSNorm|GroupNorm|softmax")),
)

BUILT_IN: dict[str, tuple[str, ...]] = {
    "elementwise": (
        "one program per contiguous block of 1024 elements with a masked tail",
        "larger blocks (4096) with num_warps=8 so each thread moves several contiguous elements "
        "in 128-bit loads",
        "a persistent grid: about as many programs as SMs, each looping over blocks",
        "autotune BLOCK and num_warps over a few configurations with triton.autotune",
        "fuse every step into one pass: read each input once, write the output once",
        "2-D tiles over the last two dimensions, coalesced along the contiguous one",
        "compute in float32 registers and cast once on store",
        "cheap indexing: flattened offsets with tl.multiple_of / tl.max_contiguous hints",
    ),
    "reduction": (
        "one program per row holding the whole row in one block (next power of two), masked",
        "one program per row looping over fixed-size chunks: statistics first, then the output",
        "several rows per program for short rows, so every warp has work",
        "single-pass float32 accumulation of the statistics (Welford or running sums)",
        "split long rows across programs and combine the partial results in a second step",
        "autotune the block size and num_warps keyed on the row length",
        "keep the row in registers between the reduction and the output: read once, write once",
        "vectorised loads with float32 accumulation, cast to the input dtype on store",
    ),
    "matmul": (
        "tiled GEMM: BLOCK_M x BLOCK_N tiles, loop over K with tl.dot into a float32 accumulator",
        "grouped tile ordering (GROUP_M swizzle) so A and B tiles are reused from L2",
        "autotune tile sizes, num_warps and num_stages (software pipelining)",
        "fuse the epilogue (bias, activation, scaling) into the GEMM's store",
        "split-K for shapes with too few output tiles to fill the GPU",
        "a persistent kernel: one program per SM looping over output tiles",
        "tensor cores in half precision or tf32 with float32 accumulation, within tolerance",
        "large tiles with more pipeline stages and 8 warps for big square shapes",
    ),
    "attention": (
        "FlashAttention: one program per (batch, head, query block) streaming key blocks with an "
        "online softmax",
        "online softmax in exp2 with the scale folded in (qk_scale = scale * 1.44269504)",
        "apply masks per tile and skip key blocks that are fully masked",
        "autotune BLOCK_M, BLOCK_N, num_warps and num_stages",
        "keep the query tile resident, load each K and V tile once per query block, normalise "
        "the output at the end",
        "split the key sequence across programs (flash-decoding) and combine partial results",
        "compute positional or bias terms in the kernel from indices instead of loading them",
        "half-precision tl.dot for QK^T and PV with float32 softmax statistics",
    ),
    "convolution": (
        "implicit GEMM: output pixels x output channels as a matrix product with tl.dot",
        "one program per output tile looping over input channels and the window, float32 "
        "accumulator",
        "channels-last indexing for coalesced loads",
        "fuse bias and activation into the store",
        "autotune tile sizes over output pixels and channels",
        "direct convolution with the filter held in registers for small windows",
        "split input channels across programs and reduce the partial sums",
        "precompute the window's input offsets once per tile",
    ),
}


def family(problem_text: str) -> str:
    """The problem's operation family, from its source (elementwise when nothing else fits)."""
    code = "\n".join(line for line in problem_text.splitlines()
                     if not line.lstrip().startswith("#"))
    for name, pattern in FAMILY_PATTERNS:
        if pattern.search(code):
            return name
    return "elementwise"


def parse_ideas(answer: str) -> list[str]:
    """Ideas from a model's answer: a JSON list of strings, else a numbered or bulleted list."""
    start, end = answer.find("["), answer.rfind("]")
    if start != -1 and end > start:
        try:
            items = json.loads(answer[start:end + 1])
        except ValueError:
            items = None
        if isinstance(items, list) and all(isinstance(i, str) for i in items):
            return _distinct(items)
    lines = re.findall(r"^\s*(?:\d+[.)]|[-*•])\s+(.+)$", answer, re.M)
    return _distinct(lines)


def choose_ideas(proposed: list[str], count: int, problem_text: str) -> tuple[list[str], str]:
    """`count` distinct ideas: the model's first, topped up from the built-in list.

    Returns the ideas and where they came from ("model", "model+built-in" or "built-in").
    """
    ideas = _distinct(proposed)[:count]
    from_model = len(ideas)
    for idea in _cycle(BUILT_IN[family(problem_text)], count):
        if len(ideas) >= count:
            break
        if idea.lower() not in {i.lower() for i in ideas}:
            ideas.append(idea)
    source = "model" if from_model == count else ("model+built-in" if from_model else "built-in")
    return ideas, source


def _cycle(ideas: tuple[str, ...], count: int) -> list[str]:
    """The built-in list, repeated with variant numbers when more branches than ideas."""
    out = list(ideas)
    variant = 2
    while len(out) < count:
        out.extend(f"{idea} (variant {variant})" for idea in ideas)
        variant += 1
    return out


def _distinct(items: list[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for item in items:
        text = " ".join(item.split()).strip(" .")
        if text and text.lower() not in seen:
            seen.add(text.lower())
            out.append(text)
    return out
