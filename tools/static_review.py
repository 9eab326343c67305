"""Static review of a candidate's source: the exploit classes KernelBench's static checker lists.

Each finding is a named flag. Reading the source cannot prove intent (a try/except may only
guard an import), so a finding alone is for review; `confirm` turns it into a rejection when a
run-time check of the same verification saw the exploit happen (e.g. stream creation in the
source and work escaping the timed stream).
"""

from __future__ import annotations

import ast
import io
import re
import tokenize

from kernel_agent.tools.verdict import Flag

# Compute that belongs in the candidate's own kernels, not in torch, when called on the host
# side of the candidate (forward and the launchers it calls). Allocation and views are fine.
TORCH_COMPUTE = {
    "matmul", "mm", "bmm", "addmm", "baddbmm", "einsum", "conv1d", "conv2d", "conv3d",
    "softmax", "log_softmax", "layer_norm", "group_norm", "batch_norm", "rms_norm", "linear",
    "scaled_dot_product_attention", "gelu", "relu", "silu", "sigmoid", "tanh", "exp", "sum",
    "mean", "cumsum", "sort", "topk", "max", "min", "norm",
}
THREAD_MODULES = {"threading", "concurrent.futures", "multiprocessing", "_thread"}
TIMER_TARGETS = re.compile(r"(^|\.)(Event|elapsed_time|synchronize|perf_counter|time|record|"
                           r"monotonic|cuda)$")
CUDA_STREAM_CALL = re.compile(r"cudaStreamCreate|at::cuda::getStreamFromPool")
# Ways into the verifier's own memory (the candidate runs in its process): its objects through
# the garbage collector, its locals through the call stack, its modules by import.
INTROSPECTION_CALLS = {"gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys._getframe",
                       "inspect.currentframe", "inspect.stack", "inspect.getouterframes"}
FRAME_ATTRIBUTES = {"f_back", "f_locals", "f_globals"}
# Parts of names without which code defines no kernel of its own (Triton, CUDA C++ through
# torch's extensions or ctypes, CuPy, Numba, and the kernel decorators of TileLang, CUTLASS's
# and Warp's Python DSLs): only code hidden from reading (exec of an encoded string) makes one
# without any of them. Comments and strings do not count.
KERNEL_WORDS = re.compile(r"jit|kernel|load_inline|cpp_extension|ctypes|cdll|RawModule|"
                          r"jiterator|triton|tilelang", re.IGNORECASE)
NO_KERNEL = ("the source defines no kernel of its own (no Triton, CUDA C++ or other kernel "
             "construct), so its output comes from a library")

# Which run-time flags confirm each static finding.
CONFIRMED_BY = {
    "static_torch_fallback": {"custom_kernels_minor", "no_custom_kernel"},
    "static_torch_compute": {"custom_kernels_minor", "no_custom_kernel"},
    "static_threads": {"work_off_timed_stream", "timed_output_wrong", "thread_left_running"},
    "static_stream_creation": {"work_off_timed_stream"},
    "static_tensor_subclass": {"output_not_plain_tensor"},
    "static_timer_patching": {"monkeypatched"},
    "static_introspection": {"searched_verifier_memory", "monkeypatched",
                             "wrong_on_unseen_inputs", "verifier_inputs_modified"},
}


def dotted(node: ast.AST) -> str:
    """`a.b.c` for a Name/Attribute chain, '' otherwise."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return ""


def is_torch_compute(call: ast.Call) -> str | None:
    name = dotted(call.func)
    head, _, last = name.rpartition(".")
    if head in {"F", "torch.nn.functional", "nn.functional"}:
        return name
    if head in {"torch", "torch.linalg", "torch.special"} and last in TORCH_COMPUTE:
        return name
    return None


def host_functions(tree: ast.Module) -> list[ast.FunctionDef]:
    """`forward` methods and module-level functions that are not Triton kernels."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        jit = any("jit" in dotted(d.func if isinstance(d, ast.Call) else d)
                  for d in node.decorator_list)
        if node.name == "forward" or (node in tree.body and not jit):
            found.append(node)
    return found


def review(source: str) -> list[Flag]:
    """Review flags for the exploit classes seen in the source (none for unparsable source)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    found: dict[str, str] = {}

    def note(name: str, reason: str) -> None:
        found.setdefault(name, reason)

    for function in host_functions(tree):
        for node in ast.walk(function):
            if isinstance(node, ast.Try):
                for handler in node.handlers:
                    calls = [c for c in ast.walk(handler) if isinstance(c, ast.Call)
                             and (is_torch_compute(c) or dotted(c.func).startswith("torch."))]
                    if calls:
                        note("static_torch_fallback", f"{function.name}() catches an exception "
                             f"and falls back to {dotted(calls[0].func)} (line {node.lineno})")
            elif isinstance(node, ast.Call) and (name := is_torch_compute(node)):
                note("static_torch_compute", f"{function.name}() computes with {name} (line "
                     f"{node.lineno}) instead of a kernel of its own")
            elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult):
                note("static_torch_compute", f"{function.name}() multiplies matrices with @ "
                     f"(line {node.lineno}) instead of a kernel of its own")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [
                node.module or ""]
            if any(m in THREAD_MODULES or m.split(".")[0] in THREAD_MODULES for m in modules):
                note("static_threads", f"imports {', '.join(modules)} (line {node.lineno}): "
                     "work in another thread can escape the timed region")
            if any(m.split(".")[0] == "kernel_agent" for m in modules):
                note("static_introspection", f"imports the verifier's own package (line "
                     f"{node.lineno}): its state and functions are there to read or replace")
        elif isinstance(node, ast.Attribute) and node.attr in FRAME_ATTRIBUTES:
            note("static_introspection", f"reads a frame's {node.attr} (line {node.lineno}): "
                 "the callers' locals are the verifier's")
        elif isinstance(node, ast.Attribute) and dotted(node) == "sys.modules":
            note("static_introspection", f"reads sys.modules (line {node.lineno}): the "
                 "verifier's modules are there to read or replace")
        elif isinstance(node, ast.Call):
            name = dotted(node.func)
            if name in INTROSPECTION_CALLS:
                note("static_introspection", f"calls {name} (line {node.lineno}): the "
                     "verifier's inputs, reference outputs and records are found that way")
            elif name.endswith(("cuda.Stream", "cuda.stream", "ExternalStream")):
                note("static_stream_creation", f"creates or switches CUDA streams ({name}, line "
                     f"{node.lineno}): work there can escape the timed stream")
            elif name in {"setattr"} and node.args and dotted(node.args[0]).startswith(
                    ("torch", "time")):
                note("static_timer_patching", f"setattr on {dotted(node.args[0])} (line "
                     f"{node.lineno})")
        elif isinstance(node, ast.ClassDef):
            if any(dotted(base) in {"torch.Tensor", "Tensor"} for base in node.bases):
                note("static_tensor_subclass", f"class {node.name} subclasses torch.Tensor "
                     f"(line {node.lineno}): a lazy tensor can defer the work past the timer")
        elif isinstance(node, ast.FunctionDef) and node.name in {
                "__torch_function__", "__torch_dispatch__"}:
            note("static_tensor_subclass", f"defines {node.name} (line {node.lineno}): it can "
                 "intercept torch operations, the verifier's included")
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                name = dotted(target)
                if name.startswith(("torch", "time")) and TIMER_TARGETS.search(name):
                    note("static_timer_patching", f"assigns to {name} (line {node.lineno}): "
                         "timers and synchronisation must not be replaced")
    if CUDA_STREAM_CALL.search(source):
        note("static_stream_creation", "the CUDA source creates or takes streams of its own")
    return [Flag(name, reason, "review") for name, reason in found.items()]


def defines_kernel(source: str) -> bool:
    """Whether the code could define a kernel at all (see KERNEL_WORDS); True where it cannot
    be read as Python tokens, which is for the run to tell."""
    try:
        names = [t.string for t in tokenize.generate_tokens(io.StringIO(source).readline)
                 if t.type == tokenize.NAME]
    except (tokenize.TokenError, SyntaxError):
        return True
    return any(KERNEL_WORDS.search(name) for name in names)


def confirm(flags: list[Flag]) -> None:
    """Turn static findings into rejections where a run-time flag saw the same exploit."""
    names = {f.name for f in flags if not f.name.startswith("static_")}
    for flag in flags:
        seen = CONFIRMED_BY.get(flag.name, set()) & names
        if seen:
            flag.severity = "reject"
            flag.reason += f" (confirmed at run time by {', '.join(sorted(seen))})"
