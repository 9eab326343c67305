"""A bounded, deterministic set of variants of a candidate, each written as a text edit.

The order decides what a small budget reaches, so the moves most likely to pay come first:
1. Tile resizes (tools/tune_tiles.py): for a kernel with two or more block sizes, the whole tile
   one octave smaller, then that with the warps one octave fewer, then the tile one octave
   larger, then that with the warps one octave more. Block sizes that the kernel ties together
   by an assert (BLOCK_M a multiple of BLOCK_N) can only move together, and a smaller tile wants
   fewer warps: a sweep of one knob at a time reaches neither.
2. Every parameter changed alone, then pairs, then triples..., each layer ordered by how far the
   values move (octaves for block sizes and warps, steps for stages) and then by parameter
   order; a combination that step 1 already made is not made again.
The same candidate always gives the same variants. A variant that breaks a `tl.static_assert`
the kernel makes on its constexpr parameters is recorded as skipped with the assert, never
verified. The moves that turn out faster are combined after timing (tools/tune_combine.py).
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain, combinations, pairwise, product
from typing import Any

from kernel_agent.tools.tune_space import Site, Space
from kernel_agent.tools.tune_tiles import Picks, tile_picks

DEFAULT_MAX_VARIANTS = 24

BINARY: dict[type, Any] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow, ast.LShift: operator.lshift, ast.RShift: operator.rshift,
    ast.BitAnd: operator.and_, ast.BitOr: operator.or_, ast.BitXor: operator.xor}
COMPARE: dict[type, Any] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge}


@dataclass
class Variant:
    """One rewritten candidate: which parameters changed (name -> [was, now]) and its text."""

    number: int
    changes: dict[str, list[str]]
    text: str
    skipped: str | None = None  # why it was not verified
    picks: Picks = ()  # the new values, so that variants can be combined


def plan_variants(space: Space, max_variants: int = DEFAULT_MAX_VARIANTS) -> list[Variant]:
    """Up to `max_variants` variants to verify, plus the skipped ones met on the way there
    (at most as many again, so a kernel whose asserts reject most values still ends)."""
    if max_variants < 1:
        raise ValueError(f"max_variants must be at least 1, not {max_variants}")
    variants: list[Variant] = []
    kept = skipped = 0
    seen: set[tuple[tuple[int, str], ...]] = set()
    for picks in chain(tile_picks(space), ordered_picks(space)):
        if (key := picks_key(picks)) in seen:
            continue
        seen.add(key)
        variants.append(make_variant(space, len(variants) + 1, picks))
        kept, skipped = kept + (variants[-1].skipped is None), skipped + (
            variants[-1].skipped is not None)
        if kept == max_variants or skipped == max_variants:
            break
    return variants


def make_variant(space: Space, number: int, picks: Picks) -> Variant:
    """The candidate with `picks` written in, skipped if it breaks a static assert."""
    changes = {space.parameters[i].name: [space.parameters[i].current, choice.label]
               for i, choice in picks}
    edits = [(space.parameters[i].site, choice.text) for i, choice in picks]
    return Variant(number, changes, apply_edits(space.text, edits),
                   violated_assert(space, picks), picks)


def picks_key(picks: Picks) -> tuple[tuple[int, str], ...]:
    """What identifies a combination of new values, whatever order it was built in."""
    return tuple(sorted((i, choice.label) for i, choice in picks))


def ordered_picks(space: Space) -> Iterator[Picks]:
    """Every combination of new values, fewest changed parameters first, nearest first."""
    parameters = space.parameters
    for size in range(1, len(parameters) + 1):
        layer = []
        for indices in combinations(range(len(parameters)), size):
            options = [list(enumerate(parameters[i].choices)) for i in indices]
            for chosen in product(*options):
                distance = sum(choice.distance for _, choice in chosen)
                order = tuple(position for position, _ in chosen)
                picks = tuple((i, choice) for i, (_, choice) in zip(indices, chosen,
                                                                     strict=True))
                layer.append(((distance, indices, order), picks))
        layer.sort(key=lambda item: item[0])
        yield from (picks for _, picks in layer)


def violated_assert(space: Space, picks: Picks) -> str | None:
    """The first `tl.static_assert` these values break, where every name in it is known."""
    values: dict[tuple[str, str], int] = {}
    for parameter in space.parameters:
        values.update(parameter.bindings)
    for _, choice in picks:
        values.update(choice.bindings)
    for kernel in space.kernels.values():
        names = {param: value for (owner, param), value in values.items()
                 if owner == kernel.name}
        for condition, line, text in kernel.asserts:
            if evaluate(condition, names) is False:
                return f"breaks {text} in {kernel.name} (line {line})"
    return None


def evaluate(node: ast.expr, names: dict[str, int]) -> Any:
    """The value of an arithmetic/comparison expression over known ints; None if unknown."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return node.value
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
        left, right = evaluate(node.left, names), evaluate(node.right, names)
        if left is None or right is None:
            return None
        try:
            return BINARY[type(node.op)](left, right)
        except (ArithmeticError, ValueError):
            return None
    if isinstance(node, ast.UnaryOp):
        operand = evaluate(node.operand, names)
        if operand is None:
            return None
        return {ast.Not: operator.not_, ast.USub: operator.neg, ast.UAdd: operator.pos,
                ast.Invert: operator.invert}[type(node.op)](operand)
    if isinstance(node, ast.BoolOp):
        results = [evaluate(v, names) for v in node.values]
        if any(r is None for r in results):
            return None
        return all(results) if isinstance(node.op, ast.And) else any(results)
    if isinstance(node, ast.Compare) and all(type(op) in COMPARE for op in node.ops):
        operands = [evaluate(v, names) for v in [node.left, *node.comparators]]
        if any(o is None for o in operands):
            return None
        return all(COMPARE[type(op)](a, b)
                   for op, a, b in zip(node.ops, operands, operands[1:], strict=False))
    return None


def apply_edits(text: str, edits: list[tuple[Site, str]]) -> str:
    """`text` with each site's bytes replaced; everything else byte for byte as it was."""
    data = text.encode()
    ordered = sorted(edits, key=lambda edit: (edit[0].start, edit[0].end))
    for (first, _), (second, _) in pairwise(ordered):
        if second.start < first.end:
            raise ValueError(f"edits at lines {first.line} and {second.line} overlap")
    for site, new in reversed(ordered):
        data = data[:site.start] + new.encode() + data[site.end:]
    return data.decode()
