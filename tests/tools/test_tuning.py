"""Tuning launch parameters: which spots are found, how variants are written, and which is kept.

The source-level tests need no sandbox. The tuning runs verify every variant for real in the
local sandbox (Triton's interpreter on a CPU); tests/gpu/test_tuning_gpu.py times them on a GPU.
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from kernel_agent.sandbox import Sandbox, get_sandbox
from kernel_agent.tools.check import verify_sources
from kernel_agent.tools.tune_space import TuneSpaceError, find_space
from kernel_agent.tools.tune_variants import plan_variants
from kernel_agent.tools.tuning import VariantResult, finalist, tune_files, tune_sources

from ..conftest import DATA, EXAMPLES

TUNING = DATA / "tuning"
BLOCK16 = TUNING / "scale_add_block16.py"
SOFTMAX = TUNING / "softmax_block64.py"
AUTOTUNED = TUNING / "scale_add_autotuned.py"
SCALE_ADD = DATA / "scale_add_problem.py"


@pytest.fixture(scope="module")
def two_workers() -> Iterator[Sandbox]:
    """Two CPU workers, so the variants of one tuning run are verified two at a time."""
    box = get_sandbox("local", cpu_workers=2)
    yield box
    box.close()


def source(path) -> dict[str, str]:
    return {"text": path.read_text(), "path": str(path)}


def changed_lines(before: str, after: str) -> set[int]:
    """1-based lines of `before` that `after` does not keep."""
    matcher = difflib.SequenceMatcher(a=before.splitlines(), b=after.splitlines(),
                                      autojunk=False)
    return {line + 1 for tag, start, end, _, _ in matcher.get_opcodes() if tag != "equal"
            for line in range(start, end)}


def configs_list(text: str) -> ast.List:
    """The list given as configs= to the first decorator of scale_add_kernel."""
    kernel = next(n for n in ast.parse(text).body
                  if isinstance(n, ast.FunctionDef) and n.name == "scale_add_kernel")
    configs = kernel.decorator_list[0].keywords[0].value
    assert isinstance(configs, ast.List)
    return configs


def test_launch_parameters_are_found_and_variants_differ_only_at_them():
    text = BLOCK16.read_text()
    space = find_space(text, str(BLOCK16))
    found = {p.name: (p.kind, p.current, p.site.line) for p in space.parameters}
    block_line = text.splitlines().index("BLOCK = 16") + 1
    launch_line = next(number for number, line in enumerate(text.splitlines(), start=1)
                       if "num_warps=1" in line)
    assert found == {"BLOCK": ("block", "16", block_line),
                     "num_warps": ("num_warps", "1", launch_line)}
    choices = {p.name: [c.label for c in p.choices] for p in space.parameters}
    assert sorted(choices["BLOCK"], key=int) == ["32", "64"]  # powers of two, none below 16
    assert sorted(choices["num_warps"], key=int) == ["2", "4", "8"]

    variants = plan_variants(space, max_variants=24)
    assert len(variants) == 2 + 3 + 2 * 3  # every single change, then every pair
    assert all(len(v.changes) == 1 for v in variants[:5])
    assert len({v.text for v in variants}) == len(variants)
    for variant in variants:
        expected = text
        if "BLOCK" in variant.changes:
            expected = expected.replace("BLOCK = 16\n", f"BLOCK = {variant.changes['BLOCK'][1]}\n")
        if "num_warps" in variant.changes:
            expected = expected.replace("num_warps=1)",
                                        f"num_warps={variant.changes['num_warps'][1]})")
        assert variant.text == expected, variant.changes
        assert changed_lines(text, variant.text) <= {block_line, launch_line}
    again = plan_variants(find_space(text, str(BLOCK16)), max_variants=3)
    assert [v.text for v in again] == [v.text for v in variants[:3]]
    with pytest.raises(ValueError, match="max_variants"):
        plan_variants(space, max_variants=0)


def test_missing_num_warps_is_written_in_and_computed_values_are_noted():
    text = (DATA / "scale_add_correct.py").read_text()
    space = find_space(text)
    warps = next(p for p in space.parameters if p.name == "num_warps")
    assert warps.current == "default (4)"
    variant = next(v for v in plan_variants(space) if v.changes == {"num_warps": [
        "default (4)", "8"]})
    assert variant.text == text.replace("n, BLOCK=256)", "n, BLOCK=256, num_warps=8)")
    assert not any(p.name == "num_stages" for p in space.parameters)  # no loop to pipeline

    rmsnorm = find_space((EXAMPLES / "rmsnorm" / "kernel.py").read_text())
    assert rmsnorm.parameters == []
    assert any("BLOCK_SIZE=block_size, computed at run time" in n for n in rmsnorm.notes)
    assert any("num_warps=num_warps, computed at run time" in n for n in rmsnorm.notes)
    result = tune_files(EXAMPLES / "rmsnorm" / "problem.py", EXAMPLES / "rmsnorm" / "kernel.py")
    assert not result.improved and result.notes == rmsnorm.notes
    assert [(row.number, row.status) for row in result.variants] == [(0, "not_run")]
    assert result.reason.startswith("no tunable launch parameters found")


KNOBS = """import triton
import triton.language as tl

BLOCK_M = 128
BLOCK_N = 64
NUM_WARPS = 8
NUM_STAGES = 3
WARP_SPECIALIZE = False
FLATTEN: tl.constexpr = True
CAUSAL = True
WINDOW = 1024
BLOCK_UNUSED = 32


@triton.jit
def attention_kernel(q, out, n, WINDOW: tl.constexpr, CAUSAL: tl.constexpr,
                     BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr,
                     WARP_SPECIALIZE: tl.constexpr, LOOP_NUM_STAGES: tl.constexpr):
    tl.static_assert(BLOCK_M % BLOCK_N == 0)
    for start in tl.range(0, n, BLOCK_N, num_stages=LOOP_NUM_STAGES,
                          warp_specialize=WARP_SPECIALIZE, flatten=FLATTEN):
        pass


def attention(q, out, n):
    attention_kernel[(triton.cdiv(n, BLOCK_M),)](
        q, out, n, WINDOW, CAUSAL=CAUSAL, BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N,
        WARP_SPECIALIZE=WARP_SPECIALIZE, LOOP_NUM_STAGES=NUM_STAGES, num_warps=NUM_WARPS)
"""


def test_module_constants_named_like_knobs_are_varied_and_the_others_left_alone():
    space = find_space(KNOBS)
    lines = KNOBS.splitlines()
    found = {p.name: (p.kind, p.current, lines[p.site.line - 1]) for p in space.parameters}
    assert found == {
        "BLOCK_M": ("block", "128", "BLOCK_M = 128"),
        "BLOCK_N": ("block", "64", "BLOCK_N = 64"),
        "NUM_WARPS": ("num_warps", "8", "NUM_WARPS = 8"),
        "NUM_STAGES": ("num_stages", "3", "NUM_STAGES = 3"),
        "WARP_SPECIALIZE": ("flag", "False", "WARP_SPECIALIZE = False"),
        "FLATTEN": ("flag", "True", "FLATTEN: tl.constexpr = True"),  # read in the kernel
        # the launch leaves num_stages to Triton's default, and the kernel has a loop
        "num_stages": ("num_stages", "default (3)", lines[-3])}  # CAUSAL, WINDOW: semantics
    assert space.notes == []
    choices = {p.name: [c.label for c in p.choices] for p in space.parameters}
    assert choices["WARP_SPECIALIZE"] == ["True"] and choices["FLATTEN"] == ["False"]
    assert sorted(choices["NUM_STAGES"]) == ["2", "4"]

    variants = plan_variants(space, max_variants=40)
    switched = next(v for v in variants if v.changes == {"WARP_SPECIALIZE": ["False", "True"]})
    assert switched.text == KNOBS.replace("WARP_SPECIALIZE = False", "WARP_SPECIALIZE = True")
    stages = next(v for v in variants if v.changes == {"NUM_STAGES": ["3", "4"]})
    assert stages.text == KNOBS.replace("NUM_STAGES = 3", "NUM_STAGES = 4")
    for variant in variants:  # the kernel's static assert, read through its parameters
        values = {name: int(variant.changes.get(name, ["", default])[1])
                  for name, default in (("BLOCK_M", "128"), ("BLOCK_N", "64"))}
        divides = values["BLOCK_M"] % values["BLOCK_N"] == 0
        assert (variant.skipped is None) == divides, (variant.changes, variant.skipped)
        if variant.skipped:
            assert "tl.static_assert(BLOCK_M % BLOCK_N == 0)" in variant.skipped
    assert sum(v.skipped is None for v in variants) == 40


def test_a_global_knob_a_kernel_reads_feeds_its_static_asserts():
    text = KNOBS.replace("tl.static_assert(BLOCK_M % BLOCK_N == 0)",
                         "tl.static_assert(BLOCK_GLOBAL <= 64)").replace(
        "BLOCK_UNUSED = 32", "BLOCK_GLOBAL: tl.constexpr = 32")
    space = find_space(text)
    knob = next(p for p in space.parameters if p.name == "BLOCK_GLOBAL")
    assert knob.feeds == [("attention_kernel", "BLOCK_GLOBAL")]
    variants = [v for v in plan_variants(space, max_variants=60)
                if "BLOCK_GLOBAL" in v.changes]
    assert {v.changes["BLOCK_GLOBAL"][1]: v.skipped is None for v in variants} == {
        "16": True, "64": True, "128": False}  # none below 16, 128 breaks its assert


def test_a_knob_given_a_value_it_cannot_take_is_noted():
    text = KNOBS.replace("WARP_SPECIALIZE = False", "WARP_SPECIALIZE = 1").replace(
        "BLOCK_N = 64", "BLOCK_N = 48")
    space = find_space(text)
    assert "WARP_SPECIALIZE" not in {p.name for p in space.parameters}
    assert space.notes == [
        "line 27: attention_kernel gets BLOCK_N=BLOCK_N = 48, not a power of two; not tuned",
        "line 28: attention_kernel gets WARP_SPECIALIZE=WARP_SPECIALIZE = 1, not a boolean; "
        "not tuned"]


MIXED = """\"\"\"Größe: non-ASCII text before every edited spot.\"\"\"
import triton
import triton.language as tl

CONFIGS = [triton.Config({"BLOCK_N": 64}), triton.Config({"BLOCK_N": 128}, num_warps=8)]
ODD = 100


@triton.autotune(configs=CONFIGS, key=["n"])
@triton.jit
def tuned_kernel(x, n, BLOCK_N: tl.constexpr):
    pass


@triton.jit
def copy_kernel(x, y, n, BLOCK: "tl.constexpr", BLOCK_ODD: tl.constexpr):
    for i in range(3):
        pass


def launch(x, y, n):
    BLOCK = 128  # é
    copy_kernel[(1,)](x, y, n, BLOCK, ODD)
    tuned_kernel[(1,)](x, n)
"""


def test_configs_by_name_local_literals_and_positional_blocks_with_crlf_and_unicode():
    text = MIXED.replace("\n", "\r\n")
    space = find_space(text)
    assert [(p.name, p.current) for p in space.parameters] == [
        ("tuned_kernel.configs", "autotune over 2 configs"), ("BLOCK", "128"),
        ("num_warps", "default (4)"), ("num_stages", "default (3)")]  # the kernel has a loop
    assert space.notes == ["line 23: copy_kernel gets BLOCK_ODD=ODD = 100, not a power of two; "
                           "not tuned"]
    variant = next(v for v in plan_variants(space, max_variants=200) if v.changes == {
        "tuned_kernel.configs": ["autotune over 2 configs", "BLOCK_N=64"],
        "BLOCK": ["128", "64"], "num_warps": ["default (4)", "2"],
        "num_stages": ["default (3)", "2"]})
    expected = (text.replace(', triton.Config({"BLOCK_N": 128}, num_warps=8)]', "]")
                .replace("BLOCK = 128  # é", "BLOCK = 64  # é")
                .replace("BLOCK, ODD)", "BLOCK, ODD, num_warps=2, num_stages=2)"))
    assert variant.text == expected


def test_unparsable_candidate_is_refused_with_its_line():
    with pytest.raises(TuneSpaceError, match=r"kernel\.py:3: syntax error"):
        find_space("import triton\n\ndef broken(:\n", "kernel.py")


def test_autotune_configs_are_found_and_each_variant_pins_one(two_workers):
    text = AUTOTUNED.read_text()
    space = find_space(text, str(AUTOTUNED))
    [configs] = space.parameters
    assert configs.kind == "configs" and configs.current == "autotune over 3 configs"
    assert [c.label for c in configs.choices] == [
        "BLOCK=32 num_warps=1", "BLOCK=128 num_warps=4",
        "BLOCK=256 num_warps=8 num_stages=2"]
    written = configs_list(text)
    variants = plan_variants(space)
    assert len(variants) == 3
    list_lines = set(range(written.lineno, written.end_lineno + 1))
    for variant, config in zip(variants, written.elts, strict=True):
        pinned = configs_list(variant.text)
        assert [ast.get_source_segment(variant.text, e) for e in pinned.elts] == [
            ast.get_source_segment(text, config)]
        assert changed_lines(text, variant.text) <= list_lines
    ends = [variants[0], variants[-1]]  # the first and the last config, verified at once
    with ThreadPoolExecutor(max_workers=2) as pool:
        verdicts = list(pool.map(
            lambda v: verify_sources(source(SCALE_ADD), {"text": v.text, "path": "pinned.py"},
                                     sandbox=two_workers, trials=2), ends))
    assert [v.status for v in verdicts] == ["pass"] * 2, [v.summary() for v in verdicts]


def test_on_cpu_wrong_variants_are_discarded_and_the_original_is_kept(two_workers):
    seen = []
    result = tune_files(TUNING / "softmax_problem.py", SOFTMAX, sandbox=two_workers,
                        workers=2, max_variants=4, progress=seen.append)
    assert result.device == "cpu"
    assert not result.improved and result.chosen == 0
    assert result.best == result.original == SOFTMAX.read_text()
    assert "timing needs a GPU" in result.reason and "original is kept" in result.reason
    rows = {row.describe(): row for row in result.variants}
    assert list(rows) == ["original", "BLOCK 64 -> 32", "BLOCK 64 -> 128", "num_warps 4 -> 2",
                          "num_warps 4 -> 8"]
    assert len(seen) == 5
    too_small = rows["BLOCK 64 -> 32"]  # rows of 50 values need BLOCK >= 64
    assert too_small.status == "fail" and too_small.reason.startswith("wrong results")
    for name in ("original", "BLOCK 64 -> 128", "num_warps 4 -> 2", "num_warps 4 -> 8"):
        assert rows[name].status == "pass" and rows[name].reason == ""
    assert all(row.median_ms is None for row in result.variants)
    assert "3 of 4 variants verified passed" in result.reason


def test_a_failing_original_is_not_tuned(two_workers):
    result = tune_sources(source(SCALE_ADD), source(DATA / "scale_add_off_by_one.py"),
                          sandbox=two_workers, max_variants=4, trials=2)
    assert not result.improved
    assert result.variants[0].status == "fail"
    assert "the original does not pass verification" in result.reason
    assert [row.status for row in result.variants[1:]] == ["not_run"] * 4


def test_the_finalist_is_the_fastest_passing_variant_and_only_if_faster_than_the_original():
    original = VariantResult(0, {}, "pass", 1.0, 0.01)
    wrong_but_fast = VariantResult(1, {"BLOCK": ["16", "32"]}, "fail", 0.1, 0.01)
    slower = VariantResult(2, {"BLOCK": ["16", "64"]}, "pass", 1.2, 0.01)
    faster = VariantResult(3, {"num_warps": ["1", "2"]}, "pass", 0.8, 0.01)
    skipped = VariantResult(4, {"BLOCK": ["16", "128"]}, "skipped")
    number, reason = finalist([original, wrong_but_fast, slower, faster, skipped], "cuda")
    assert number == 3
    assert reason == ("2 of 3 variants verified passed; in the sweep variant 3 (num_warps 1 -> 2) "
                      "took 0.8 ms, the original 1 ms")
    number, reason = finalist([original, wrong_but_fast, slower], "cuda")
    assert number is None and reason.endswith("no variant was faster, the original is kept")


DERIVED = """import triton
import triton.language as tl

BLOCK_M = 128
BLOCK_N = 64
NUM_WARPS = 8


@triton.jit
def tile_kernel(x, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr):
    tl.static_assert(BLOCK_M % BLOCK_N == 0)


def launch(x, small):
    halve = int(small)
    block_m = BLOCK_M >> halve
    tile_kernel[(1,)](x, BLOCK_M=block_m, BLOCK_N=BLOCK_N >> halve,
                      num_warps=NUM_WARPS // (1 + halve))


def mixed(x):
    tile_kernel[(1,)](x, BLOCK_M=BLOCK_M * BLOCK_N // 64, BLOCK_N=BLOCK_N, num_warps=NUM_WARPS)
"""


def test_a_launch_value_derived_from_one_module_knob_tunes_that_knob():
    """A kernel that picks its tile by shape (halved for small heads) keeps its constants
    tunable and tied by its static assert; a value mixing two knobs is only noted."""
    space = find_space(DERIVED)
    by_name = {p.name: p for p in space.parameters}
    assert sorted(by_name) == ["BLOCK_M", "BLOCK_N", "NUM_WARPS"]
    assert by_name["BLOCK_M"].feeds == [("tile_kernel", "BLOCK_M")]  # through the local
    assert ("tile_kernel", "BLOCK_N") in by_name["BLOCK_N"].feeds  # the expression itself
    assert set(by_name["NUM_WARPS"].launches) == {"tile_kernel"}
    assert [n for n in space.notes if "computed at run time" in n] == [
        "line 22: tile_kernel gets BLOCK_M=BLOCK_M * BLOCK_N // 64, computed at run time; "
        "not tuned"]
    halved_m = next(v for v in plan_variants(space, max_variants=40)
                    if v.changes == {"BLOCK_M": ["128", "32"]})
    assert "BLOCK_M % BLOCK_N == 0" in (halved_m.skipped or ""), "judged on the constants"
