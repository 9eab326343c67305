"""Compile one recorded Triton launch for a target with Triton's own compiler, and measure it.

The launch's arguments go through the kernel's own binder, exactly as a real launch does, giving
the signature, constexprs, specialisation attributes and options; `triton.compile` then builds
TTIR, TTGIR, LLIR, PTX and the cubin for the target, with no GPU needed. ptxas runs with -v, and
its log (registers, spill bytes) is kept by forcing a fresh compile with the log printed.
"""

from __future__ import annotations

import base64
import contextlib
import io
import re
import warnings
from dataclasses import dataclass
from typing import Any

from kernel_agent.tools import disasm
from kernel_agent.tools.build_report import KernelBuild, Resources
from kernel_agent.tools.occupancy import limits_for, occupancy, occupancy_table

TARGET_PATTERN = re.compile(r"^(?:sm_?|compute_?)?(\d{2,3})([a-z]?)$")
TOP_OPCODES = 12


@dataclass(frozen=True)
class Target:
    """A CUDA compute capability to compile for, e.g. parsed from "sm_90a" or "80"."""

    capability: int

    @classmethod
    def parse(cls, text: str) -> Target:
        match = TARGET_PATTERN.match(text.strip().lower())
        if not match:
            raise ValueError(f"unknown target {text!r}: use a form like sm_90, sm_90a or sm_80")
        return cls(int(match[1]))

    @property
    def arch(self) -> str:
        """The architecture Triton emits code for (it always uses the `a` features on 9.0+)."""
        return f"sm_{self.capability}{'a' if self.capability >= 90 else ''}"

    def gpu_target(self) -> Any:
        from triton.backends.compiler import GPUTarget

        return GPUTarget("cuda", self.capability, 32)


@dataclass
class Specialization:
    """What the binder made of one launch: the inputs of `ASTSource` and the options."""

    signature: dict[str, str]
    constexprs: dict[Any, Any]
    attrs: dict[Any, Any]
    options: Any

    def key(self) -> str:
        return repr((sorted(self.signature.items()), sorted(map(repr, self.constexprs.items())),
                     sorted(map(repr, self.attrs.items())), sorted(vars(self.options).items())))


def specialize(kernel: Any, args: dict[str, Any], options: dict[str, Any],
               target: Target) -> Specialization:
    """Run the kernel's binder on stand-in arguments as JITFunction.run does for a launch."""
    from triton import knobs
    from triton.compiler import make_backend
    from triton.runtime.jit import create_function_from_signature

    backend = make_backend(target.gpu_target())
    kwargs = {**args, **options}
    kwargs["debug"] = kwargs.get("debug", kernel.debug) or knobs.runtime.debug
    binder = create_function_from_signature(kernel.signature, kernel.params, backend)
    bound, specialization, bound_options = binder(**kwargs)
    with warnings.catch_warnings():  # option defaults Triton warns about when first read
        warnings.simplefilter("ignore")
        packed, signature, constexprs, attrs = kernel._pack_args(
            backend, kwargs, bound, specialization, bound_options)
    return Specialization(signature, constexprs, attrs, packed)


def compile_specialization(kernel: Any, spec: Specialization, target: Target) -> tuple[Any, str]:
    """triton.compile for `target`; returns the compiled kernel and the ptxas log."""
    import triton
    from triton import knobs
    from triton.compiler import ASTSource

    printed = io.StringIO()
    with knobs.compilation.scope(), knobs.nvidia.scope(), warnings.catch_warnings(), \
            contextlib.redirect_stdout(printed):
        warnings.simplefilter("ignore")
        knobs.compilation.always_compile = True
        knobs.nvidia.dump_ptxas_log = True
        compiled = triton.compile(ASTSource(kernel, spec.signature, spec.constexprs, spec.attrs),
                                  target=target.gpu_target(), options=vars(spec.options))
    return compiled, printed.getvalue()


def measure(build: KernelBuild, compiled: Any, ptxas_log: str, target: Target) -> None:
    """Fill in resources, occupancy, SASS and artifacts of a compiled kernel."""
    asm = compiled.asm
    cubin = asm["cubin"]
    usage = next(iter(disasm.resource_usage(cubin).values()), {})
    info = disasm.parse_ptxas_log(ptxas_log)
    dynamic = int(getattr(compiled.metadata, "shared", 0) or 0)
    build.resources = Resources(
        registers=usage.get("REG", info.registers or 0),
        shared_bytes=dynamic + usage.get("SHARED", 0),
        stack_bytes=usage.get("STACK", info.stack_bytes or 0),
        local_bytes=usage.get("LOCAL", 0),
        spill_stores=info.spill_stores, spill_loads=info.spill_loads)
    build.occupancy = occupancy_entries(build.resources, build.num_warps or 4, target.capability)
    sass = disasm.disassemble(cubin)
    counts = disasm.histogram(sass, "sass")
    build.sass_highlights = disasm.highlights(counts)
    build.sass_top = counts.most_common(TOP_OPCODES)
    build.local_memory = disasm.local_memory(sass, asm.get("ptx"))
    build.artifacts = {kind: asm[kind] for kind in ("ttir", "ttgir", "llir", "ptx") if kind in asm}
    build.artifacts["sass"] = sass
    build.artifacts["cubin"] = base64.b64encode(cubin).decode()


def occupancy_entries(resources: Resources, num_warps: int, capability: int) -> list[dict]:
    """Occupancy at the launched num_warps first, then at the other usual values."""
    limits = limits_for(capability)
    launched = occupancy(resources.registers, resources.shared_bytes, num_warps, limits)
    others = [o for o in occupancy_table(resources.registers, resources.shared_bytes, limits)
              if o.num_warps != num_warps]
    return [{**o.to_dict(), "arch": limits.capability} for o in [launched, *others]]


def describe_specialization(build: KernelBuild, spec: Specialization) -> None:
    names = list(spec.signature)
    build.signature = {k: v for k, v in spec.signature.items() if v != "constexpr"}
    build.constexprs = {names[path[0]] if len(path) == 1 else str(path): repr(value)
                        for path, value in spec.constexprs.items()}
    build.num_warps = spec.options.num_warps
    build.num_stages = spec.options.num_stages
