"""Static review of candidate sources: each exploit class KernelBench's checker lists gives its
named flag, honest kernels give none, and a run-time confirmation turns review into reject."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel_agent.tools.static_review import confirm, defines_kernel, review
from kernel_agent.tools.verdict import Flag

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

FALLBACK = '''
class ModelNew(nn.Module):
    def forward(self, x):
        try:
            return launch(x)
        except Exception:
            return torch.relu(x)
'''


@pytest.mark.parametrize(("source", "flag"), [
    (FALLBACK, "static_torch_fallback"),
    ("import threading\n", "static_threads"),
    ("from concurrent.futures import ThreadPoolExecutor\n", "static_threads"),
    ("side = torch.cuda.Stream()\n", "static_stream_creation"),
    ('CUDA = "cudaStream_t s; cudaStreamCreate(&s);"\n', "static_stream_creation"),
    ("class Lazy(torch.Tensor):\n    pass\n", "static_tensor_subclass"),
    ("class T:\n    def __torch_function__(cls, f, t, a=(), k=None):\n        pass\n",
     "static_tensor_subclass"),
    ("torch.cuda.Event.elapsed_time = lambda self, end: 0.001\n", "static_timer_patching"),
    ("time.perf_counter = lambda: 0.0\n", "static_timer_patching"),
    ("def forward(self, x):\n    return F.gelu(x)\n", "static_torch_compute"),
    ("def forward(self, a, b):\n    return a @ b\n", "static_torch_compute"),
    ("def launch(x, w):\n    return torch.matmul(x, w)\n", "static_torch_compute"),
    ("found = [o for o in gc.get_objects() if hasattr(o, 'outputs')]\n", "static_introspection"),
    ("caller = sys._getframe(2).f_locals\n", "static_introspection"),
    ("frame = inspect.currentframe()\n", "static_introspection"),
    ("from kernel_agent.tools import problem_state\n", "static_introspection"),
    ("verdicts = [m for n, m in sys.modules.items() if n.endswith('verdict')]\n",
     "static_introspection"),
])
def test_each_exploit_class_gets_its_review_flag(source: str, flag: str) -> None:
    flags = {f.name: f for f in review(source)}
    assert flag in flags, source
    assert flags[flag].severity == "review" and flags[flag].reason


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.iterdir()
                                           if (p / "kernel.py").exists()))
def test_example_kernels_raise_no_static_flag(example: str) -> None:
    assert review((EXAMPLES / example / "kernel.py").read_text()) == []


def test_allocation_views_and_guarded_imports_are_not_findings() -> None:
    source = '''
try:
    import triton
except ImportError:
    triton = None


def launch(x):
    out = torch.empty_like(x).view(-1)
    return out.reshape(x.shape)
'''
    assert review(source) == []


def test_a_run_time_flag_confirms_the_static_finding() -> None:
    flags = [*review("side = torch.cuda.Stream()\n"),
             Flag("work_off_timed_stream", "events 0.1 ms, wall 2 ms")]
    confirm(flags)
    static = flags[0]
    assert static.severity == "reject" and "confirmed at run time by work_off_timed_stream" in (
        static.reason)
    alone = review("import threading\n")
    confirm(alone)
    assert alone[0].severity == "review"


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.iterdir()
                                           if (p / "kernel.py").exists()))
def test_every_example_kernel_defines_a_kernel(example: str) -> None:
    assert defines_kernel((EXAMPLES / example / "kernel.py").read_text())


@pytest.mark.parametrize("source", [
    "extension = load_inline(name='x', cpp_sources='', cuda_sources=CUDA)\n",
    "@cuda.jit\ndef add(x, y):\n    pass\n",
    "module = cupy.RawModule(code=SOURCE)\n",
    "library = ctypes.CDLL('./kernels.so')\n",
    "@T.prim_func\ndef main(A):\n    pass\nimport tilelang.language as T\n",
])
def test_kernels_of_other_kinds_count_as_defined(source: str) -> None:
    assert defines_kernel(source)


def test_kernel_words_in_comments_and_strings_define_no_kernel() -> None:
    source = ('"""A fast Triton kernel, jit compiled."""\nimport torch\n# @triton.jit\n'
              "class ModelNew(torch.nn.Module):\n"
              "    def forward(self, x):\n        return x * 2  # the kernel\n")
    assert not defines_kernel(source)
