"""Compile recorded launches: one KernelBuild per distinct specialisation of each kernel.

Needs a Python whose triton was imported without the interpreter (its own jit functions, such
as tl.cdiv, must be JITFunctions for the compiler). The compile task calls this in its own process
when that holds, and otherwise runs `python -m kernel_agent.tools.compile_launches` in a fresh one.
"""

from __future__ import annotations

import inspect
import json
import sys
from dataclasses import asdict
from pathlib import Path
from types import ModuleType
from typing import Any

from kernel_agent.tools import compile_errors, integrity, launches
from kernel_agent.tools.build_report import KernelBuild
from kernel_agent.tools.triton_build import (
    Specialization,
    Target,
    compile_specialization,
    describe_specialization,
    measure,
    specialize,
)
from kernel_agent.tools.verdict import ErrorInfo


class LaunchCompiler:
    """Compiles the launches of one candidate module for one target."""

    def __init__(self, module: ModuleType, candidate: dict[str, str], target: Target,
                 private_paths: list[Path]) -> None:
        self.module, self.target = module, target
        self.text, self.path = candidate["text"], candidate["path"]
        self.private_paths = private_paths
        self.kernels = {integrity.kernel_name(k): k for k in integrity.triton_kernels(module)}
        self.notes: list[str] = []

    def compile_all(self, recorded: list[dict[str, Any]], max_variants: int) -> list[KernelBuild]:
        """Each distinct specialisation per kernel, the most recently launched first."""
        variants: dict[str, dict[str, tuple[Specialization, dict[str, Any]]]] = {}
        builds: list[KernelBuild] = []
        for launch in sorted(recorded, key=lambda entry: -entry["last"]):
            kernel = self.kernels.get(launch["kernel"])
            if kernel is None:
                continue
            try:
                spec = self.specialize(kernel, launch)
            except Exception as exc:  # the launch itself is wrong: report it on the kernel
                builds.append(KernelBuild(launch["kernel"], launches=launch["count"],
                                          error=ErrorInfo("bad_launch", compile_errors.cut(
                                              f"{type(exc).__name__}: {exc}"))))
                continue
            seen = variants.setdefault(launch["kernel"], {})
            key = spec.key()
            if key in seen:
                seen[key][1]["count"] += launch["count"]
            else:
                seen[key] = (spec, dict(launch))
        skipped = 0
        for name, found in variants.items():
            for index, (spec, launch) in enumerate(found.values()):
                if index < max_variants:
                    builds.append(self.compile_one(self.kernels[name], spec, launch, index))
                else:
                    skipped += 1
        if skipped:
            self.notes.append(f"{skipped} older launch variants were not compiled "
                              f"(max_variants={max_variants})")
        return builds

    def specialize(self, kernel: Any, launch: dict[str, Any]) -> Specialization:
        if "error" in launch:
            raise TypeError(launch["error"])
        namespace = vars(self.module)
        args = {k: launches.rebuild(v, namespace) for k, v in launch["args"].items()}
        return specialize(kernel, args, launch["options"], self.target)

    def compile_one(self, kernel: Any, spec: Specialization, launch: dict[str, Any],
                    variant: int) -> KernelBuild:
        build = KernelBuild(launch["kernel"], variant=variant, launches=launch["count"],
                            grid=launch.get("grid"))
        describe_specialization(build, spec)
        try:
            compiled, log = compile_specialization(kernel, spec, self.target)
        except Exception as exc:  # the compiler's verdict on the candidate's code
            build.error = compile_errors.triton_error(exc, self.text, self.path)
            return build
        measure(build, compiled, log, self.target)
        build.artifacts = {kind: content if kind == "cubin" else self.public(content)
                           for kind, content in build.artifacts.items()}
        return build

    def public(self, text: str) -> str:
        """Artifacts name the candidate by the path the user knows, not our private copy."""
        for private in self.private_paths:
            text = text.replace(str(private), self.path)
        return text


def import_candidate(candidate: dict[str, str], directory: Path) -> tuple[ModuleType, Path]:
    """The candidate module (its kernels JITFunctions here) and the file it was loaded from."""
    from kernel_agent.tools.problem import Source, load_candidate

    cls = load_candidate(Source(candidate["text"], candidate["path"]), directory)
    module = inspect.getmodule(cls)
    assert module is not None and module.__file__
    return module, Path(module.__file__)


def main(argv: list[str]) -> int:
    """Child-process entry: REQUEST.json (options, launches, target) -> RESULT.json."""
    import os
    import tempfile

    from kernel_agent.tools.problem import SpecError

    os.environ.pop("TRITON_INTERPRET", None)
    request_path, result_path = (Path(p) for p in argv)
    request = json.loads(request_path.read_text())
    candidate, target = request["options"]["candidate"], Target.parse(request["target"])
    with tempfile.TemporaryDirectory(prefix="compile-") as tmp:
        try:
            module, file = import_candidate(candidate, Path(tmp))
        except SpecError as exc:
            result = {"error": {"kind": "load_error", "message": str(exc), "file": exc.path,
                                "line": exc.line}}
        else:
            compiler = LaunchCompiler(module, candidate, target,
                                      [file, *map(Path, request["private_paths"])])
            builds = compiler.compile_all(request["launches"],
                                          request["options"]["max_variants"])
            result = {"kernels": [asdict(b) for b in builds], "notes": compiler.notes}
    result_path.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
