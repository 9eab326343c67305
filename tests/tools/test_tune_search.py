"""The tuner's search over combinations of knobs: tile resizes with their warps first, then the
moves that were faster combined. Variant generation is checked on the sources alone; the two
stages run with a stand-in verifier whose timings follow a known model, since nothing is timed
on a CPU."""

from __future__ import annotations

import re

import pytest

from kernel_agent.tools.tune_combine import MAX_MOVES, combine
from kernel_agent.tools.tune_compare import ORIGINAL, VARIANT, Comparison
from kernel_agent.tools.tune_space import find_space
from kernel_agent.tools.tune_tiles import tile_picks
from kernel_agent.tools.tune_variants import Variant, plan_variants
from kernel_agent.tools.tuning import VariantResult, _Tuning
from kernel_agent.tools.verdict import Stats, Timing, Verdict

from ..conftest import DATA, EXAMPLES

ALIBI = EXAMPLES / "alibi_attention" / "kernel.py"

TWO_KERNELS = """import triton
import triton.language as tl

BLOCK_M = 64
BLOCK_N = 32
BLOCK_K = 32
NUM_WARPS = 4
ROWS_BLOCK = 256


@triton.jit
def matmul_kernel(a, b, c, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                  BLOCK_K: tl.constexpr):
    tl.static_assert(BLOCK_K >= 32)
    for k in range(4):
        pass


@triton.jit
def rows_kernel(x, BLOCK: tl.constexpr):
    pass


def launch(a, b, c, x):
    matmul_kernel[(1,)](a, b, c, BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, BLOCK_K=BLOCK_K,
                        num_warps=NUM_WARPS, num_stages=3)
    rows_kernel[(1,)](x, BLOCK=ROWS_BLOCK, num_warps=8)
"""


def values(variant: Variant | VariantResult) -> dict[str, str]:
    return {name: now for name, (_, now) in variant.changes.items()}


def test_alibi_reaches_the_smaller_tile_with_fewer_warps_within_eight_variants():
    text = ALIBI.read_text()
    variants = plan_variants(find_space(text, str(ALIBI)), max_variants=8)
    verified = [v for v in variants if v.skipped is None]
    assert len(verified) == 8
    wanted = next(v for v in verified
                  if values(v) == {"BLOCK_M": "64", "BLOCK_N": "64", "NUM_WARPS": "4"})
    assert wanted.text == (text.replace("BLOCK_M = 128\n", "BLOCK_M = 64\n")
                           .replace("BLOCK_N = 128\n", "BLOCK_N = 64\n")
                           .replace("NUM_WARPS = 8\n", "NUM_WARPS = 4\n"))
    # BLOCK_M 128 -> 64 alone breaks the kernel's assert; it is recorded as skipped
    alone = next(v for v in variants if v.changes == {"BLOCK_M": ["128", "64"]})
    assert "BLOCK_M % BLOCK_N == 0" in (alone.skipped or "")
    assert len({v.text for v in variants}) == len(variants)


def test_each_kernels_tile_is_resized_whole_with_its_own_warps():
    space = find_space(TWO_KERNELS)
    names = [p.name for p in space.parameters]
    moves = [{names[i]: choice.label for i, choice in picks} for picks in tile_picks(space)]
    # rows_kernel has one block size: no tile; its num_warps=8 never moves with matmul's tile
    assert moves == [
        {"BLOCK_M": "32", "BLOCK_N": "16", "BLOCK_K": "16"},
        {"BLOCK_M": "32", "BLOCK_N": "16", "BLOCK_K": "16", "NUM_WARPS": "2"},
        {"BLOCK_M": "128", "BLOCK_N": "64", "BLOCK_K": "64"},
        {"BLOCK_M": "128", "BLOCK_N": "64", "BLOCK_K": "64", "NUM_WARPS": "8"}]
    variants = plan_variants(space, max_variants=3)
    assert [v.skipped is None for v in variants] == [False, False, True, True, True]
    assert "BLOCK_K >= 32" in (variants[0].skipped or "")  # the smaller tile breaks the assert


def test_a_tile_that_cannot_grow_or_whose_warps_cannot_follow_stops_there():
    at_top = TWO_KERNELS.replace("NUM_WARPS = 4", "NUM_WARPS = 8").replace(
        "BLOCK_K = 32", "BLOCK_K = 65536")
    space = find_space(at_top)
    names = [p.name for p in space.parameters]
    moves = [sorted(names[i] for i, _ in picks) for picks in tile_picks(space)]
    # down with and without warps; up is impossible (BLOCK_K is at its largest)
    assert moves == [["BLOCK_K", "BLOCK_M", "BLOCK_N"],
                     ["BLOCK_K", "BLOCK_M", "BLOCK_N", "NUM_WARPS"]]
    one_block = find_space((DATA / "tuning" / "scale_add_block16.py").read_text())
    assert tile_picks(one_block) == []


def moves_of(space, *wanted: dict[str, str]) -> list[Variant]:
    """Variants of the plan with exactly these new values."""
    plan = plan_variants(space, max_variants=60)
    return [next(v for v in plan if values(v) == w) for w in wanted]


def test_faster_moves_are_combined_best_product_first_and_only_where_they_fit():
    space = find_space(ALIBI.read_text())
    tile, stages, warps, wide, slower = moves_of(
        space, {"BLOCK_M": "64", "BLOCK_N": "64", "NUM_WARPS": "4"}, {"NUM_STAGES": "4"},
        {"NUM_WARPS": "4"}, {"BLOCK_N": "64"}, {"NUM_STAGES": "2"})
    speedups = [(tile, 1.2), (stages, 1.05), (warps, 1.1), (wide, 1.02), (slower, 0.9)]
    made = combine(space, speedups, {space.text}, limit=10, first_number=20)
    assert [v.number for v in made] == list(range(20, 20 + len(made)))
    # products 1.26, 1.178, 1.155, 1.122, 1.071; the tile never goes with the warps or the
    # wider BLOCK_N alone (both change a parameter it changes); the slower move is never used
    assert [values(v) for v in made] == [
        {"BLOCK_M": "64", "BLOCK_N": "64", "NUM_WARPS": "4", "NUM_STAGES": "4"},
        {"BLOCK_N": "64", "NUM_WARPS": "4", "NUM_STAGES": "4"},
        {"NUM_WARPS": "4", "NUM_STAGES": "4"},
        {"BLOCK_N": "64", "NUM_WARPS": "4"},
        {"BLOCK_N": "64", "NUM_STAGES": "4"}]
    assert all(v.skipped is None for v in made)
    assert [v.number for v in combine(space, speedups, {space.text}, 2, 1)] == [1, 2]
    known = {space.text, made[0].text}  # a text already made is not made again
    assert values(combine(space, speedups, known, 1, 1)[0]) == values(made[1])
    assert combine(space, [(tile, 1.2), (slower, 0.9)], {space.text}, 5, 1) == []


def test_only_the_fastest_moves_are_combined():
    space = find_space(ALIBI.read_text())
    singles = [v for v in plan_variants(space, max_variants=60)
               if v.skipped is None and len(v.changes) == 1][:MAX_MOVES + 1]
    assert [values(v) for v in singles][-1] == {"BLOCK_N": "32"}  # the slowest, left out
    made = combine(space, [(v, 1.5 - 0.01 * n) for n, v in enumerate(singles)], {space.text},
                   1000, 1)
    # BLOCK_M 256 or 512 or as is, BLOCK_N 64 or as is, NUM_WARPS 4 or as is, NUM_STAGES 2 or
    # 4 or as is: 3 * 2 * 2 * 3 sets of values, less the original and the 6 single moves
    assert len(made) == 3 * 2 * 2 * 3 - 1 - 6 == len({v.text for v in made})
    assert all(values(v).get("BLOCK_N") != "32" for v in made)


PRODUCT_LIMIT = """import triton
import triton.language as tl

BLOCK_M = 64
BLOCK_N = 64


@triton.jit
def tile_kernel(x, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    tl.static_assert(BLOCK_M * BLOCK_N <= 8192)


def launch(x):
    tile_kernel[(1,)](x, BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, num_warps=4)
"""


def test_combinations_that_break_an_assert_are_left_out():
    space = find_space(PRODUCT_LIMIT)
    taller, wider, warps = moves_of(space, {"BLOCK_M": "128"}, {"BLOCK_N": "128"},
                                    {"num_warps": "8"})
    assert taller.skipped is None and wider.skipped is None  # each fits alone
    made = combine(space, [(taller, 1.2), (wider, 1.1), (warps, 1.05)], {space.text}, 10, 1)
    assert [values(v) for v in made] == [{"BLOCK_M": "128", "num_warps": "8"},
                                         {"BLOCK_N": "128", "num_warps": "8"}]


class Model:
    """Timings of the alibi variants: each knob's value multiplies the original's 1 ms."""

    def __init__(self, faster: bool = True) -> None:
        self.factors = {("BLOCK_M", "64"): 0.95, ("BLOCK_N", "64"): 0.95,
                        ("NUM_WARPS", "4"): 0.9, ("NUM_STAGES", "4"): 0.97,
                        ("NUM_STAGES", "2"): 1.1, ("BLOCK_M", "256"): 1.3} if faster else {}
        self.verified: list[str] = []
        self.compared: list[tuple[str, str]] = []

    def verify(self, text: str, path: str) -> Verdict:
        self.verified.append(path)
        time = 1.0
        for (name, value), factor in self.factors.items():
            if re.search(rf"^{name} = {value}$", text, re.MULTILINE):
                time *= factor
        return Verdict(status="pass", stage="done", compiled=True, correct=True,
                       device={"type": "cuda"}, timing=Timing(Stats(time, 0.001, 30, time)),
                       tolerance={"atol": 0.02, "rtol": 0.02})

    def compare(self, original: dict[str, str], variant: dict[str, str]) -> Comparison:
        self.compared.append((original["path"], variant["path"]))
        return Comparison(True, True, "re-timed: faster", 10, "gpu", 1.0, 0.5, 0.01, 0.01)


@pytest.mark.parametrize(("budget", "combined", "winner"), [
    # 6 planned variants: the tile moves, BLOCK_M 256, BLOCK_N 64, NUM_WARPS 4; then 2 more
    (8, {"BLOCK_N": "64", "NUM_WARPS": "4"}, {"BLOCK_M": "64", "BLOCK_N": "64", "NUM_WARPS": "4"}),
    # 9 planned variants reach NUM_STAGES 4, which the smaller tile with fewer warps then takes
    (12, {"BLOCK_M": "64", "BLOCK_N": "64", "NUM_WARPS": "4", "NUM_STAGES": "4"}, None)])
def test_the_second_stage_combines_the_faster_moves_within_the_budget(budget, combined, winner):
    candidate = {"text": ALIBI.read_text(), "path": "kernel.py"}
    space = find_space(candidate["text"])
    model = Model()
    result = _Tuning(space, budget, candidate, 1, None).run(model.verify, model.compare)
    assert len(model.verified) == 1 + budget  # the original, then exactly the budget
    rows = result.variants
    assert [r.number for r in rows] == list(range(len(rows)))
    first = budget - budget // 4
    planned = [v.text for v in plan_variants(space, budget) if v.skipped is None][:first]
    first_rows = [r for r in rows[1:] if r.status != "skipped"][:first]
    assert [r.text for r in first_rows] == planned
    second = [r for r in rows if r.number > first_rows[-1].number]
    assert values(second[0]) == combined and second[0].status == "pass"
    best = min((r for r in rows[1:] if r.median_ms), key=lambda r: r.median_ms or 0.0)
    assert values(best) == (winner or combined)
    assert result.finalist == best.number == result.chosen
    assert model.compared == [("kernel.py", f"kernel.variant{best.number}.py")]
    assert len({r.text for r in rows}) == len(rows)


def test_without_faster_moves_the_held_back_budget_goes_to_more_planned_variants():
    candidate = {"text": ALIBI.read_text(), "path": "kernel.py"}
    space = find_space(candidate["text"])
    model = Model(faster=False)  # every variant as fast as the original: nothing to combine
    result = _Tuning(space, 8, candidate, 1, None).run(model.verify, model.compare)
    planned = [v for v in plan_variants(space, 8)]
    assert [r.text for r in result.variants[1:]] == [v.text for v in planned]
    assert [r.number for r in result.variants] == list(range(len(planned) + 1))
    assert result.finalist is None and model.compared == []


@pytest.mark.parametrize("key", [ORIGINAL, VARIANT])
def test_a_kernel_wrong_while_re_timed_is_marked_failed_and_the_original_kept(key):
    candidate = {"text": ALIBI.read_text(), "path": "kernel.py"}
    model = Model()
    given: list[dict[str, object]] = []

    def compare(original: dict[str, object], variant: dict[str, object]) -> Comparison:
        given.extend([original, variant])
        return Comparison(False, False, "wrong output while re-timed",
                          failed={key: "timed_output_wrong: 5 of 40 calls"})

    result = _Tuning(find_space(candidate["text"]), 4, candidate, 1, None).run(
        model.verify, compare)
    assert result.finalist is not None and result.chosen == 0 and not result.improved
    number = 0 if key == ORIGINAL else result.finalist
    marked = next(r for r in result.variants if r.number == number)
    assert marked.status == "fail"
    assert marked.reason == "while re-timed: timed_output_wrong: 5 of 40 calls"
    others = [r for r in result.variants if r is not marked and r.status != "skipped"]
    assert all(r.status == "pass" for r in others)
    assert [c["tolerance"] for c in given] == [{"atol": 0.02, "rtol": 0.02}] * 2
