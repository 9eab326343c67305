"""Moves of a kernel's whole tile: its block sizes resized together, and its warps with them.

A kernel that takes two or more block sizes (the rows and columns of a matmul or attention tile)
has a tile whose size is one decision, not several: moving one block size alone changes the
tile's shape, often breaks the kernel's own `tl.static_assert(BLOCK_M % BLOCK_N == 0)`, and
keeps warps sized for the old tile. So each such kernel's tile is resized as a whole, every block
one octave down (first: a tile that fits the original's registers and shared memory fits when
smaller, a larger one may not) and one octave up. Each resize is followed by the same resize
with the kernel's launch warps one octave in the same direction, the warps that go with a
smaller or larger tile. A resize that breaks a static assert is skipped by the caller like any
variant (tools/tune_variants.py).
"""

from __future__ import annotations

from kernel_agent.tools.tune_space import Choice, Parameter, Space

Picks = tuple[tuple[int, Choice], ...]  # (parameter index, its new value), by parameter order
DIRECTIONS = (-1, 1)  # one octave down, then up


def tile_picks(space: Space) -> list[Picks]:
    """The tile resizes of every kernel with two or more block sizes, each followed by the same
    resize with the kernel's warps; kernels in the order the source defines them."""
    parameters = space.parameters
    moves: list[Picks] = []
    for kernel in space.kernels:
        blocks = [i for i, p in enumerate(parameters) if p.kind == "block"
                  and any(owner == kernel for owner, _ in p.feeds)]
        warps = [i for i, p in enumerate(parameters) if p.kind == "num_warps"
                 and kernel in p.launches]
        if len(blocks) < 2:
            continue
        for direction in DIRECTIONS:
            tile = octave_picks(parameters, blocks, direction)
            if tile is None:
                continue
            moves.append(tile)
            with_warps = octave_picks(parameters, warps, direction) if warps else None
            if with_warps is not None:
                moves.append(tuple(sorted(tile + with_warps, key=lambda pick: pick[0])))
    return moves


def octave_picks(parameters: list[Parameter], indices: list[int],
                 direction: int) -> Picks | None:
    """Every parameter of `indices` one octave down (-1) or up (1); None if any cannot go."""
    picks = []
    for index in indices:
        parameter = parameters[index]
        if not isinstance(parameter.value, int) or isinstance(parameter.value, bool):
            return None
        wanted = parameter.value * 2 if direction > 0 else parameter.value / 2
        choice = next((c for c in parameter.choices if c.value == wanted), None)
        if choice is None:
            return None
        picks.append((index, choice))
    return tuple(picks)
