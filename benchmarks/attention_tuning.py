"""The example attention kernels, as shipped and after `kernel-agent tune`, against FlexAttention,
PyTorch SDPA and the eager reference: TFLOP/s, ratio to FlexAttention and share of the device's
bf16 peak, on a GPU.

For the four attention examples (relative position; ALiBi, causal; tanh soft-capping, cap 50;
causal sliding window of 1024), at each shape (default bf16, B=8, H=16, S=4096, D=128 and D=64):
the kernel as shipped; the kernel tuned by tools/tuning.py on the problem at that shape;
FlexAttention (torch.compile) with the same score_mod and block mask; SDPA with the bias or mask
materialised as attn_mask (tanh soft-capping is not an additive mask: no SDPA row); the problem's
eager Model. Each output is checked once against the reference (tolerance 2e-2); a mismatch
replaces the speed. Timing: the kernels, FlexAttention and SDPA take turns in --rounds rounds
(order rotated, L2 flushed before every run; tools/retime.py), each timed as the median of its
per-round medians; the eager reference is timed alone. Shipped against tuned is decided with the
tuner's own rule (tools/tune_compare.py), so the table states whether it agrees with the tuner.
Exit status: 0 every implementation matched, 1 one did not (or failed), 2 no GPU / bad options.

    python benchmarks/attention_tuning.py [--variants NAME ...] [--shapes B,H,S,D ...]
                                          [--rounds 10] [--runs 30] [--max-variants 8]
                                          [--extra VARIANT=FILE ...]
                                          [--markdown benchmarks/RESULTS.md] [--json FILE]

--extra adds another kernel for a variant's problem (a candidate to weigh against the shipped
one), checked and timed in the same rounds as the shipped one.
    python benchmarks/attention_tuning.py --cpu-check   # no GPU: tiny fp32 shapes, correctness
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from types import ModuleType

import torch
from rich.console import Console
from rich.table import Table

from kernel_agent.tools.check import read_source
from kernel_agent.tools.retime import interleaved
from kernel_agent.tools.timing import L2Flusher, time_gpu
from kernel_agent.tools.tune_compare import ROUNDS, decide
from kernel_agent.tools.tuning import TuneResult, tune_sources

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
GPU_SHAPES = [(8, 16, 4096, 128), (8, 16, 4096, 64)]
CPU_SHAPES = [(1, 2, 64, 16)]
HEAD_DIMS = (16, 32, 64, 128)  # what the example kernels accept
TOLERANCE = 2e-2
NOT_TIMED = "not timed (CPU)"
# Dense bf16 tensor-core peak (TFLOP/s, no sparsity) by device name, the most specific first.
BF16_PEAK = (("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.4), ("H200", 989.4))
FLOPS_NOTE = ("FLOPs = 4*B*H*D per (query, key) pair the mask keeps: S*S without a mask, "
              "S*(S+1)/2 causal, sum over queries of min(q+1, 1024) for the sliding window.")
HEAD = ["problem", "D", "implementation", "check", "ms", "TFLOP/s", "% peak", "vs Flex",
        "vs SDPA"]
Attention = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
ScoreMod = Callable[..., torch.Tensor]
Shape = tuple[int, int, int, int]


@dataclass(frozen=True)
class Example:
    name: str  # for --variants
    label: str
    folder: str
    mask: str  # "none", "causal" or "window"


EXAMPLE_SET = (Example("relative", "relative position", "relative_position_attention", "none"),
               Example("alibi", "ALiBi, causal", "alibi_attention", "causal"),
               Example("softcap", "tanh soft-cap 50", "softcap_attention", "none"),
               Example("window", "sliding window 1024, causal", "sliding_window_attention",
                       "window"))
WINDOW = 1024


@dataclass
class Row:
    problem: str
    head_dim: int
    implementation: str
    check: str  # "ok, max err ...", "MISMATCH, ...", "error: ...", "skipped: ..."
    ms: float | None = None
    tflops: float | None = None
    peak_share: float | None = None
    vs_flex: float | None = None
    vs_sdpa: float | None = None

    @property
    def failed(self) -> bool:
        return not self.check.startswith(("ok", "skipped"))


def parse_shape(text: str) -> Shape:
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: want B,H,S,D as integers") from None
    if len(shape) != 4 or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: want four positive integers B,H,S,D")
    if shape[3] not in HEAD_DIMS:
        raise argparse.ArgumentTypeError(f"{text!r}: the kernels take D in {HEAD_DIMS}")
    return shape  # type: ignore[return-value]


def extra_kernel(text: str) -> tuple[str, Path]:
    """`VARIANT=FILE` of --extra, checked: a known variant and a file that exists."""
    name, _, path = text.partition("=")
    if name not in {e.name for e in EXAMPLE_SET} or not Path(path).is_file():
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected VARIANT=FILE with VARIANT one of "
            f"{', '.join(e.name for e in EXAMPLE_SET)} and FILE a kernel file")
    return name, Path(path).resolve()


def load_module(path: Path, name: str) -> ModuleType:
    """A file as a module (Triton's jit reads kernel sources back from their file)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def shaped_problem(example: Example, shape: Shape, dtype: torch.dtype) -> dict[str, str]:
    """The example's problem with its inputs at this shape, so tuning measures where we do."""
    path = EXAMPLES / example.folder / "problem.py"
    inputs = (f"\n\n# The shape under test (benchmarks/attention_tuning.py).\ndef get_inputs():\n"
              f"    return [torch.randn({shape}, dtype={dtype}) for _ in range(3)]\n\n\n"
              "get_small_inputs = get_inputs\n")
    return {"text": path.read_text() + inputs, "path": str(path)}


def tune(example: Example, shape: Shape, dtype: torch.dtype, max_variants: int,
         console: Console) -> TuneResult:
    """`kernel-agent tune` on the shipped kernel against the problem at this shape."""
    candidate = read_source(EXAMPLES / example.folder / "kernel.py", "candidate")
    return tune_sources(shaped_problem(example, shape, dtype), candidate,
                        max_variants=max_variants, workers=min(2, os.cpu_count() or 1),
                        compile_baseline=False, progress=lambda row: console.print(
                            f"  verified {row.describe()}: {row.status} {row.reason}".rstrip(),
                            style="dim", markup=False))


def chosen_parameters(result: TuneResult) -> str:
    """Every tunable parameter's value in the chosen variant, e.g. `BLOCK_M=128, ...`."""
    changes = result.best_row.changes
    return ", ".join(f"{p['name']}={changes.get(p['name'], [p['current']] * 2)[1]}"
                     for p in result.parameters)


def kept_pairs(example: Example, seq_len: int) -> int:
    """How many (query, key) pairs the example's mask keeps: the work its FLOPs count."""
    if example.mask == "causal":
        return seq_len * (seq_len + 1) // 2
    if example.mask == "window":
        full = max(seq_len - WINDOW, 0)
        ramp = min(seq_len, WINDOW)
        return ramp * (ramp + 1) // 2 + full * WINDOW
    return seq_len * seq_len


def flex_attention_for(example: Example, problem: ModuleType, shape: Shape,
                       device: torch.device) -> Attention:
    """FlexAttention under torch.compile with the problem's score modification as score_mod
    and its mask as a block mask (blocks the mask removes are skipped, as the kernels do)."""
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    compiled = torch.compile(flex_attention, dynamic=False)
    score_mod: ScoreMod | None = None
    if example.name == "relative":
        def score_mod(score, b, h, q_idx, kv_idx):
            return score + (q_idx - kv_idx)
    elif example.name == "alibi":
        slopes = problem.alibi_slopes(shape[1], device)

        def score_mod(score, b, h, q_idx, kv_idx):
            return score + slopes[h] * (kv_idx - q_idx)
    elif example.name == "softcap":
        cap = problem.SOFT_CAP

        def score_mod(score, b, h, q_idx, kv_idx):
            return cap * torch.tanh(score / cap)
    if example.mask == "none":
        return lambda q, k, v: compiled(q, k, v, score_mod=score_mod)

    def keep(b, h, q_idx, kv_idx):
        causal = kv_idx <= q_idx
        return causal if example.mask == "causal" else causal & (q_idx - kv_idx < WINDOW)

    mask = create_block_mask(keep, None, None, shape[2], shape[2], device=str(device))
    return lambda q, k, v: compiled(q, k, v, score_mod=score_mod, block_mask=mask)


def sdpa_mask(example: Example, problem: ModuleType, shape: Shape, dtype: torch.dtype,
              device: torch.device) -> torch.Tensor | None:
    """The bias (and mask) as a materialised attn_mask, or None where no additive mask can say
    it (tanh soft-capping). Relative position: -kv_idx, the bias less its per-row constant q_idx
    (softmax ignores it), so the keys that carry the weight keep exact values in bf16. ALiBi:
    (1, H, S, S) with the causal mask folded in as -inf (SDPA takes attn_mask or is_causal, not
    both). Sliding window: the boolean (S, S) mask."""
    pos = torch.arange(shape[2], device=device, dtype=torch.float32)
    distance = pos[:, None] - pos[None, :]  # q_idx - kv_idx
    if example.name == "relative":
        return (-pos[None, :]).repeat(shape[2], 1).to(dtype)
    if example.name == "alibi":
        bias = problem.alibi_slopes(shape[1], device)[:, None, None] * -distance
        return bias.masked_fill(distance < 0, float("-inf")).to(dtype)[None]
    if example.name == "window":
        return (distance >= 0) & (distance < WINDOW)
    return None


def check(out: torch.Tensor, reference: torch.Tensor) -> tuple[bool, str]:
    error = (out.float() - reference.float()).abs()
    worst = error.max().item() if error.numel() else 0.0
    ok = bool(torch.all(error <= TOLERANCE + TOLERANCE * reference.float().abs()))
    return ok, f"{'ok' if ok else 'MISMATCH'}, max err {worst:.2g}"


def bf16_peak(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in BF16_PEAK if key in name), None)


def implementations(example: Example, problem: ModuleType, shape: Shape, dtype: torch.dtype,
                    device: torch.device, tuned: TuneResult, tuned_path: Path,
                    extra: list[Path]) -> list[tuple[str, Attention | None]]:
    """Every contender with its row label; None where it cannot express the problem. `extra`:
    other kernels for this problem (files with a ModelNew), timed beside the shipped one."""
    folder = EXAMPLES / example.folder
    shipped = load_module(folder / "kernel.py", f"{example.folder}_kernel").ModelNew()
    tuned_path.write_text(tuned.best)
    tuned_model = load_module(tuned_path, tuned_path.stem).ModelNew()
    tuned_label = "original kept" if tuned.chosen == 0 else tuned.best_row.describe()
    mask = sdpa_mask(example, problem, shape, dtype, device)
    sdpa: tuple[str, Attention | None] = ("SDPA: tanh soft-capping is no additive mask", None)
    if mask is not None:
        mib = mask.numel() * mask.element_size() / 2**20
        sdpa = (f"SDPA, attn_mask {mib:.3g} MiB",
                lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(q, k, v, mask))
    others = [(f"kernel {path.name}", load_module(path, f"extra_{path.stem}").ModelNew())
              for path in extra]
    return [("kernel as shipped", shipped), (f"kernel tuned ({tuned_label})", tuned_model),
            *others,
            ("FlexAttention, torch.compile", flex_attention_for(example, problem, shape, device)),
            sdpa, ("eager reference (Model)", problem.Model())]


def measure(example: Example, shape: Shape, dtype: torch.dtype, device: torch.device,
            tuned: TuneResult, tuned_path: Path, args: argparse.Namespace, console: Console
            ) -> tuple[list[Row], str]:
    """Check every implementation once against the reference, then time those that match;
    the rows and what the interleaved timing says of the tuner's choice."""
    problem = load_module(EXAMPLES / example.folder / "problem.py", f"{example.folder}_problem")
    generator = torch.Generator(device=device).manual_seed(0)
    inputs = [torch.randn(shape, dtype=dtype, device=device, generator=generator)
              for _ in range(3)]
    contenders = implementations(example, problem, shape, dtype, device, tuned, tuned_path,
                                 [path for name, path in args.extra if name == example.name])
    with torch.no_grad():
        reference = contenders[-1][1](*inputs)  # type: ignore[misc]
    timed = device.type == "cuda"
    rows, calls = [], {}
    for name, attention in contenders:
        row = Row(example.label, shape[3], name, "")
        if attention is None:
            row.check = "skipped: not expressible"
        else:
            try:
                with torch.no_grad():
                    ok, row.check = check(attention(*inputs), reference)
                if ok and timed:
                    calls[name] = lambda a=attention: a(*inputs)
            except Exception as exc:  # one implementation failing must not end the benchmark
                message = (str(exc).strip().splitlines() or [""])[0][:200]
                row.check = f"error: {type(exc).__name__}: {message}"
                if not timed and name.startswith("FlexAttention"):
                    row.check = (f"skipped: FlexAttention does not run on the CPU in torch "
                                 f"{torch.__version__} ({row.check})")
        console.print(f"  {name}: {row.check}", markup=False)
        rows.append(row)
    agreement = ""
    if calls:
        eager = rows[-1].implementation
        eager_call = calls.pop(eager, None)
        with torch.no_grad():
            rounds = interleaved(calls, rounds=args.rounds, runs=args.runs, time_box_s=2.0)
            if eager_call is not None:
                rounds[eager] = [time_gpu(eager_call, L2Flusher(device), runs=args.runs,
                                          time_box_s=60.0).median_ms]
        agreement = tuner_agreement(tuned, rounds, rows[0].implementation, rows[1].implementation)
    else:
        rounds = {}
    fill_speeds(rows, rounds, kept_pairs(example, shape[2]) * 4 * shape[0] * shape[1] * shape[3],
                bf16_peak(device))
    return rows, agreement


def tuner_agreement(tuned: TuneResult, rounds: dict[str, list[float]], shipped: str,
                    tuned_name: str) -> str:
    """Whether this process's interleaved timing, judged by the tuner's rule, agrees."""
    if tuned.chosen == 0:
        return "the tuner kept the shipped kernel"
    if shipped not in rounds or tuned_name not in rounds:
        return "shipped or tuned kernel not timed"
    here = decide(rounds[shipped], rounds[tuned_name])
    tuner_says = "faster" if tuned.improved else "not faster"
    here_says = "faster" if here.faster else "not faster"
    agree = "agrees" if tuner_says == here_says else "DISAGREES"
    return f"tuner: {tuner_says}; this benchmark: {here.reason} ({agree})"


def fill_speeds(rows: list[Row], rounds: dict[str, list[float]], flops: int,
                peak: float | None) -> None:
    for row in rows:
        if row.implementation in rounds:
            row.ms = statistics.median(rounds[row.implementation])
            row.tflops = flops / (row.ms * 1e9)
            row.peak_share = 100 * row.tflops / peak if peak else None
    flex = next(r for r in rows if r.implementation.startswith("FlexAttention"))
    sdpa = next(r for r in rows if r.implementation.startswith("SDPA"))
    for row in rows:
        if row.ms:
            row.vs_flex = flex.ms / row.ms if flex.ms else None
            row.vs_sdpa = sdpa.ms / row.ms if sdpa.ms else None


def cells(row: Row, timed: bool) -> list[str]:
    def value(number: float | None, spec: str) -> str:
        if number is not None:
            return format(number, spec)
        return NOT_TIMED if not timed and row.check.startswith("ok") else "-"

    def ratio(number: float | None) -> str:
        return f"{number:.2f}x" if number is not None else "-"
    return [row.problem, str(row.head_dim), row.implementation, row.check,
            value(row.ms, ".3f"), value(row.tflops, ".1f"), value(row.peak_share, ".0f"),
            ratio(row.vs_flex), ratio(row.vs_sdpa)]


def markdown(rows: list[Row], notes: list[str], timed: bool) -> str:
    lines = ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    lines += ["| " + " | ".join(cells(row, timed)) + " |" for row in rows]
    return (f"\n## Attention kernels vs FlexAttention and SDPA "
            f"(`benchmarks/attention_tuning.py`), {date.today().isoformat()}\n\n"
            + "\n\n".join(notes) + "\n\n" + "\n".join(lines) + "\n")


def run(examples: list[Example], shapes: list[Shape], dtype: torch.dtype, device: torch.device,
        args: argparse.Namespace, console: Console, notes: list[str]) -> tuple[list[Row], bool]:
    """Tune, check and time every example at every shape; the rows and whether tuning failed."""
    rows: list[Row] = []
    tuning_failed = False
    with tempfile.TemporaryDirectory(prefix="attention-tuning-") as tmp:
        for example in examples:
            for shape in shapes:
                console.print(f"{example.label}, B,H,S,D = {shape}: tuning (up to "
                              f"{args.max_variants} variants)", markup=False)
                started = time.perf_counter()
                result = tune(example, shape, dtype, args.max_variants, console)
                tuning_failed |= result.variants[0].status != "pass"
                tuned = Path(tmp) / f"{example.folder}_{'_'.join(map(str, shape))}_tuned.py"
                measured, agreement = measure(example, shape, dtype, device, result, tuned,
                                              args, console)
                notes.append(f"Tuning, {example.label}, D={shape[3]}: chose "
                             f"{chosen_parameters(result)}. {result.reason}."
                             + (f" Interleaved here: {agreement}." if agreement else ""))
                console.print(f"{notes[-1]} ({time.perf_counter() - started:.0f} s)",
                              markup=False)
                rows += measured
                if device.type == "cuda":
                    torch.cuda.empty_cache()  # the next eager reference needs the room
    return rows, tuning_failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", choices=[e.name for e in EXAMPLE_SET],
                        help="examples to run [default: all four]")
    parser.add_argument("--shapes", nargs="+", type=parse_shape, metavar="B,H,S,D",
                        help="shapes to run [default: 8,16,4096,128 8,16,4096,64]")
    parser.add_argument("--rounds", type=int, default=ROUNDS,
                        help="interleaved timing rounds [default: as many as the tuner's]")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per round (>= 20)")
    parser.add_argument("--max-variants", type=int, default=8, help="variants tuning verifies")
    parser.add_argument("--extra", nargs="+", type=extra_kernel, default=[],
                        metavar="VARIANT=FILE",
                        help="another kernel for that variant's problem (a file with a "
                             "ModelNew), checked and timed beside the shipped one")
    parser.add_argument("--cpu-check", action="store_true",
                        help="no GPU: tiny fp32 shapes on the CPU (Triton interpreter), untimed")
    parser.add_argument("--markdown", type=Path, help="append a dated section to this file")
    parser.add_argument("--json", type=Path, help="write the rows as JSON to this file")
    args = parser.parse_args()
    if args.runs < 20 or args.max_variants < 1 or args.rounds < 2:
        parser.error("--runs must be at least 20, --rounds at least 2, --max-variants at least 1")
    timed = torch.cuda.is_available() and not args.cpu_check
    if not timed and not args.cpu_check:
        print("needs a GPU: torch sees no CUDA device here. Run it on a GPU host, or pass "
              "--cpu-check to run the whole pipeline on tiny shapes on the CPU (Triton "
              "interpreter, correctness only).", file=sys.stderr)
        return 2
    if not timed:
        os.environ["TRITON_INTERPRET"] = "1"  # read when the kernels' @triton.jit runs
    device = torch.device("cuda" if timed else "cpu")
    dtype = torch.bfloat16 if timed else torch.float32  # the interpreter's bf16 dot is wrong
    shapes = args.shapes or (GPU_SHAPES if timed else CPU_SHAPES)
    examples = [e for e in EXAMPLE_SET if not args.variants or e.name in args.variants]
    console = Console()
    if not console.is_terminal:
        console.width = 200  # a log gets the table unwrapped
    where = torch.cuda.get_device_name() if timed else "CPU, Triton interpreter"
    peak = bf16_peak(device)
    notes = [f"Device: {where}; torch {torch.__version__}; dtype {str(dtype)[6:]}; shapes "
             f"(B,H,S,D) {', '.join(map(str, shapes))}; "
             + (f"kernels, FlexAttention and SDPA timed interleaved, {args.rounds} rounds of "
                f"up to {args.runs} CUDA-event runs, L2 flushed before each; eager alone. "
                if timed else "correctness only, nothing timed. ") + FLOPS_NOTE
             + (f" % peak: of {peak:g} TFLOP/s, the device's dense bf16 peak." if peak else "")
             + " SDPA gets the bias as a materialised attn_mask (relative position: -kv_idx, "
             "the bias less its per-row constant; ALiBi: the causal mask folded in as -inf; "
             "sliding window: a boolean mask). Command: `python "
             f"benchmarks/attention_tuning.py {' '.join(sys.argv[1:])}`."]
    rows, tuning_failed = run(examples, shapes, dtype, device, args, console, notes)
    table = Table(*HEAD, title=f"Attention on {where}, {str(dtype)[6:]}, (B,H,S,D) "
                  f"{', '.join(map(str, shapes))}")
    for row in rows:
        table.add_row(*cells(row, timed), style="red" if row.failed else None)
    console.print(table)
    console.print(f"{FLOPS_NOTE} vs Flex / vs SDPA = their time / this one's.", markup=False)
    if args.markdown:
        with open(args.markdown, "a") as f:
            f.write(markdown(rows, notes, timed))
    if args.json:
        args.json.write_text(json.dumps({"timed": timed, "notes": notes,
                                         "rows": [asdict(row) for row in rows]}, indent=2))
    return 1 if tuning_failed or any(row.failed for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
