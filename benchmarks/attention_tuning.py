"""The example attention kernels, as shipped and after `kernel-agent tune`, against FlexAttention,
PyTorch SDPA and the eager reference: TFLOP/s on a GPU.

For examples/relative_position_attention (not causal) and examples/alibi_attention (causal), at
each shape (default bf16, B=8, H=16, S=4096, D=128 and D=64): the kernel as shipped; the kernel
tuned by tools/tuning.py on the problem at that shape; FlexAttention (torch.compile) with the
bias as score_mod; SDPA with the bias as a materialised attn_mask; the problem's eager Model.
Each output is checked once against the reference (tolerance 2e-2); a mismatch replaces the
speed. Timing: tools/timing.py (CUDA events, warm-up, L2 flushed), median of --runs runs.
Exit status: 0 every implementation matched, 1 one did not (or failed), 2 no GPU / bad options.

    python benchmarks/attention_tuning.py [--shapes B,H,S,D ...] [--runs 30] [--max-variants 8]
                                          [--markdown benchmarks/RESULTS.md] [--json FILE]
    python benchmarks/attention_tuning.py --cpu-check   # no GPU: tiny fp32 shapes, correctness
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
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
from kernel_agent.tools.timing import L2Flusher, time_gpu
from kernel_agent.tools.tuning import TuneResult, tune_sources

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
GPU_SHAPES = [(8, 16, 4096, 128), (8, 16, 4096, 64)]
CPU_SHAPES = [(1, 2, 64, 16)]
HEAD_DIMS = (16, 32, 64, 128)  # what the example kernels accept
TOLERANCE = 2e-2
NOT_TIMED = "not timed (CPU)"
ELSEWHERE_H200 = ("SDPA 591 TFLOP/s; FlexAttention 468 TFLOP/s with the relative-position "
                  "score_mod, 427 TFLOP/s with ALiBi; eager reference 39 TFLOP/s")
FLOPS_NOTE = "FLOPs = 4*B*H*S*S*D (two matmuls), halved for the causal ALiBi problem."
HEAD = ["problem", "D", "implementation", "check", "ms", "TFLOP/s", "vs SDPA"]
Attention = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
Shape = tuple[int, int, int, int]


@dataclass(frozen=True)
class Example:
    label: str
    folder: str
    causal: bool


EXAMPLE_SET = (Example("relative position", "relative_position_attention", False),
               Example("ALiBi, causal", "alibi_attention", True))


@dataclass
class Row:
    problem: str
    head_dim: int
    implementation: str
    check: str  # "ok, max err ...", "MISMATCH, ...", "error: ...", "skipped: ..."
    ms: float | None = None
    tflops: float | None = None
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


def flex_attention_for(example: Example, problem: ModuleType, shape: Shape,
                       device: torch.device) -> Attention:
    """FlexAttention under torch.compile with the problem's bias as score_mod."""
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    compiled = torch.compile(flex_attention, dynamic=False)
    if not example.causal:
        def relative(score, b, h, q_idx, kv_idx):
            return score + (q_idx - kv_idx)
        return lambda q, k, v: compiled(q, k, v, score_mod=relative)
    slopes = problem.alibi_slopes(shape[1], device)

    def alibi(score, b, h, q_idx, kv_idx):
        return score + slopes[h] * (kv_idx - q_idx)

    def causal(b, h, q_idx, kv_idx):
        return kv_idx <= q_idx

    mask = create_block_mask(causal, None, None, shape[2], shape[2], device=str(device))
    return lambda q, k, v: compiled(q, k, v, score_mod=alibi, block_mask=mask)


def sdpa_mask(example: Example, problem: ModuleType, shape: Shape, dtype: torch.dtype,
              device: torch.device) -> torch.Tensor:
    """The bias as a materialised attn_mask in the inputs' dtype, the one SDPA's fused kernels
    work in. Relative position: -kv_idx, the bias less its per-row constant q_idx (softmax
    ignores it), so the keys that carry the weight keep exact values in bf16. ALiBi: (1, H, S, S)
    with the causal mask folded in as -inf (SDPA takes attn_mask or is_causal, not both)."""
    pos = torch.arange(shape[2], device=device, dtype=torch.float32)
    if not example.causal:
        return (-pos[None, :]).repeat(shape[2], 1).to(dtype)
    distance = pos[None, :] - pos[:, None]  # kv_idx - q_idx
    bias = problem.alibi_slopes(shape[1], device)[:, None, None] * distance
    return bias.masked_fill(distance > 0, float("-inf")).to(dtype)[None]


def check(out: torch.Tensor, reference: torch.Tensor) -> tuple[bool, str]:
    error = (out.float() - reference.float()).abs()
    worst = error.max().item() if error.numel() else 0.0
    ok = bool(torch.all(error <= TOLERANCE + TOLERANCE * reference.float().abs()))
    return ok, f"{'ok' if ok else 'MISMATCH'}, max err {worst:.2g}"


def measure(example: Example, shape: Shape, dtype: torch.dtype, device: torch.device,
            tuned: TuneResult, tuned_path: Path, runs: int, console: Console) -> list[Row]:
    """Check every implementation once against the reference, then time those that match."""
    folder = EXAMPLES / example.folder
    problem = load_module(folder / "problem.py", f"{example.folder}_problem")
    shipped = load_module(folder / "kernel.py", f"{example.folder}_kernel").ModelNew()
    tuned_path.write_text(tuned.best)
    tuned_model = load_module(tuned_path, tuned_path.stem).ModelNew()
    generator = torch.Generator(device=device).manual_seed(0)
    inputs = [torch.randn(shape, dtype=dtype, device=device, generator=generator)
              for _ in range(3)]
    mask = sdpa_mask(example, problem, shape, dtype, device)
    reference_model = problem.Model()
    with torch.no_grad():
        reference = reference_model(*inputs)
    tuned_label = "original kept" if tuned.chosen == 0 else tuned.best_row.describe()
    implementations: list[tuple[str, Attention]] = [
        ("kernel as shipped", shipped),
        (f"kernel tuned ({tuned_label})", tuned_model),
        ("FlexAttention, torch.compile", flex_attention_for(example, problem, shape, device)),
        (f"SDPA, attn_mask {mask.numel() * mask.element_size() / 2**20:.3g} MiB",
         lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(q, k, v, mask)),
        ("eager reference (Model)", reference_model),
    ]
    flops = 4 * shape[0] * shape[1] * shape[2] ** 2 * shape[3] // (2 if example.causal else 1)
    flush = L2Flusher(device) if device.type == "cuda" else None
    rows = []
    for name, attention in implementations:
        row = Row(example.label, shape[3], name, "")
        try:
            with torch.no_grad():
                ok, row.check = check(attention(*inputs), reference)
                if ok and flush is not None:
                    stats = time_gpu(lambda a=attention: a(*inputs), flush, runs=runs,
                                     time_box_s=60.0 * runs)
                    row.ms, row.tflops = stats.median_ms, flops / (stats.median_ms * 1e9)
        except Exception as exc:  # one implementation failing must not end the benchmark
            message = (str(exc).strip().splitlines() or [""])[0][:200]
            row.check = f"error: {type(exc).__name__}: {message}"
            if device.type == "cpu" and name.startswith("FlexAttention"):
                row.check = f"skipped: FlexAttention does not run on the CPU in torch " \
                            f"{torch.__version__} ({row.check})"
        console.print(f"  {row.implementation}: {row.check}"
                      + (f", {row.ms:.3f} ms" if row.ms else ""), markup=False)
        rows.append(row)
    sdpa = next(r for r in rows if r.implementation.startswith("SDPA"))
    for row in rows:
        if row.ms and sdpa.ms:
            row.vs_sdpa = sdpa.ms / row.ms
    return rows


def cells(row: Row, timed: bool) -> list[str]:
    def value(number: float | None, spec: str) -> str:
        if number is not None:
            return format(number, spec)
        return NOT_TIMED if not timed and row.check.startswith("ok") else "-"
    vs = f"{row.vs_sdpa:.2f}x" if row.vs_sdpa is not None else "-"
    return [row.problem, str(row.head_dim), row.implementation, row.check,
            value(row.ms, ".3f"), value(row.tflops, ".1f"), vs]


def markdown(rows: list[Row], notes: list[str], timed: bool) -> str:
    lines = ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    lines += ["| " + " | ".join(cells(row, timed)) + " |" for row in rows]
    return (f"\n## Attention kernels vs FlexAttention and SDPA "
            f"(`benchmarks/attention_tuning.py`), {date.today().isoformat()}\n\n"
            + "\n\n".join(notes) + "\n\n" + "\n".join(lines) + "\n\nFor scale, figures measured "
            f"elsewhere on an H200 (not by this script): {ELSEWHERE_H200}.\n")


def run(shapes: list[Shape], dtype: torch.dtype, device: torch.device, args: argparse.Namespace,
        console: Console, notes: list[str]) -> tuple[list[Row], bool]:
    """Tune, check and time every example at every shape; the rows and whether tuning failed."""
    rows: list[Row] = []
    tuning_failed = False
    with tempfile.TemporaryDirectory(prefix="attention-tuning-") as tmp:
        for example in EXAMPLE_SET:
            for shape in shapes:
                console.print(f"{example.label}, B,H,S,D = {shape}: tuning (up to "
                              f"{args.max_variants} variants)", markup=False)
                started = time.perf_counter()
                result = tune(example, shape, dtype, args.max_variants, console)
                tuning_failed |= result.variants[0].status != "pass"
                notes.append(f"Tuning, {example.label}, D={shape[3]}: chose "
                             f"{chosen_parameters(result)}. {result.reason}.")
                console.print(f"{notes[-1]} ({time.perf_counter() - started:.0f} s)",
                              markup=False)
                tuned = Path(tmp) / f"{example.folder}_{'_'.join(map(str, shape))}_tuned.py"
                rows += measure(example, shape, dtype, device, result, tuned, args.runs, console)
                if device.type == "cuda":
                    torch.cuda.empty_cache()  # the next eager reference needs the room
    return rows, tuning_failed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", type=parse_shape, metavar="B,H,S,D",
                        help="shapes to run [default: 8,16,4096,128 8,16,4096,64]")
    parser.add_argument("--runs", type=int, default=30, help="timed runs per median (>= 20)")
    parser.add_argument("--max-variants", type=int, default=8, help="variants tuning verifies")
    parser.add_argument("--cpu-check", action="store_true",
                        help="no GPU: tiny fp32 shapes on the CPU (Triton interpreter), untimed")
    parser.add_argument("--markdown", type=Path, help="append a dated section to this file")
    parser.add_argument("--json", type=Path, help="write the rows as JSON to this file")
    args = parser.parse_args()
    if args.runs < 20 or args.max_variants < 1:
        parser.error("--runs must be at least 20 and --max-variants at least 1")
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
    console = Console()
    if not console.is_terminal:
        console.width = 200  # a log gets the table unwrapped
    where = torch.cuda.get_device_name() if timed else "CPU, Triton interpreter"
    notes = [f"Device: {where}; torch {torch.__version__}; dtype {str(dtype)[6:]}; shapes "
             f"(B,H,S,D) {', '.join(map(str, shapes))}; "
             + (f"median of {args.runs} CUDA-event runs, L2 flushed before each. " if timed
                else "correctness only, nothing timed. ") + FLOPS_NOTE + " SDPA gets the bias "
             "as a materialised attn_mask (relative position: -kv_idx, the bias less its "
             "per-row constant; ALiBi: the causal mask folded in as -inf). Command: `python "
             f"benchmarks/attention_tuning.py {' '.join(sys.argv[1:])}`."]
    rows, tuning_failed = run(shapes, dtype, device, args, console, notes)
    table = Table(*HEAD, title=f"Attention on {where}, {str(dtype)[6:]}, (B,H,S,D) "
                  f"{', '.join(map(str, shapes))}")
    for row in rows:
        table.add_row(*cells(row, timed), style="red" if row.failed else None)
    console.print(table)
    console.print(f"{FLOPS_NOTE} vs SDPA = SDPA's time / this one's. For scale, measured "
                  f"elsewhere on an H200 (not by this script): {ELSEWHERE_H200}.", markup=False)
    if args.markdown:
        with open(args.markdown, "a") as f:
            f.write(markdown(rows, notes, timed))
    if args.json:
        args.json.write_text(json.dumps({"timed": timed, "notes": notes,
                                         "rows": [asdict(row) for row in rows]}, indent=2))
    return 1 if tuning_failed or any(row.failed for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
