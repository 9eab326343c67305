"""The second stage of tuning: the moves that beat the original, combined.

Each first-stage variant (tools/tune_variants.py) makes one move: one knob changed, or a tile
resized with or without its warps. Moves that help often help independently (a better tile and
a deeper pipeline), and no fixed order can know which ones will, so once the first stage is timed
the moves whose variant beat the original in the sweep are combined, two or more at a time where
they change different parameters. The combinations are ranked by the product of their moves'
speedups, the gain if the moves were independent, so the most promising is verified first; ties
go to fewer moves, then to the faster moves. Only the MAX_MOVES fastest moves are combined. A
combination that breaks a static assert, or whose text was already made, is left out. Without a
GPU nothing is timed, no move is faster and there is nothing to combine.
"""

from __future__ import annotations

from itertools import combinations
from math import prod

from kernel_agent.tools.tune_space import Space
from kernel_agent.tools.tune_variants import Variant, make_variant

MAX_MOVES = 6  # at most 57 combinations to rank


def combine(space: Space, speedups: list[tuple[Variant, float]], known: set[str], limit: int,
            first_number: int) -> list[Variant]:
    """Up to `limit` combinations of the moves that were faster (speedup over the original
    above 1), numbered from `first_number`; none whose text is in `known`."""
    moves = sorted([(v, s) for v, s in speedups if s > 1.0 and v.picks],
                   key=lambda move: -move[1])[:MAX_MOVES]
    ranked = []
    for size in range(2, len(moves) + 1):
        for group in combinations(range(len(moves)), size):
            changed = [i for g in group for i, _ in moves[g][0].picks]
            if len(changed) == len(set(changed)):
                ranked.append((-prod(moves[g][1] for g in group), size, group))
    ranked.sort()
    made: list[Variant] = []
    texts = set(known)
    for _, _, group in ranked:
        if len(made) == limit:
            break
        picks = tuple(sorted((pick for g in group for pick in moves[g][0].picks),
                             key=lambda pick: pick[0]))
        variant = make_variant(space, first_number + len(made), picks)
        if variant.skipped is None and variant.text not in texts:
            texts.add(variant.text)
            made.append(variant)
    return made
