"""Rebuild the seed memory shipped with the package from the examples' verified kernels.

Every `examples/<name>/kernel.py` is verified against its `problem.py` here (the Triton
interpreter on a CPU, real timing on a GPU); those that pass are written to
`tools/seed_memory.jsonl`, which a user's kernel memory imports on first use, so that
`kernel-agent solve examples/<name>/problem.py` finds a remembered kernel on a fresh machine.

    python examples/build_seed_memory.py [--out tools/seed_memory.jsonl]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from kernel_agent.sandbox import get_sandbox
from kernel_agent.tools.check import check_files
from kernel_agent.tools.memory import SEED_FILE, KernelMemory

EXAMPLES = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=SEED_FILE)
    args = parser.parse_args()
    failed = []
    sandbox = get_sandbox("local")
    try:
        with tempfile.TemporaryDirectory() as scratch:
            memory = KernelMemory(Path(scratch) / "seed.sqlite", sandbox=sandbox)
            for problem in sorted(EXAMPLES.glob("*/problem.py")):
                kernel = problem.with_name("kernel.py")
                verdict = check_files(problem, kernel, sandbox=sandbox)
                print(f"{problem.parent.name}: {verdict.summary().splitlines()[0]}")
                if verdict.status != "pass":
                    failed.append(problem.parent.name)
                    continue
                memory.remember(problem.read_text(), kernel.read_text(), verdict.to_dict(),
                                origin="seed", name=problem.parent.name)
            count = memory.export(args.out)
    finally:
        sandbox.close()
    print(f"wrote {count} kernels to {args.out}")
    if failed:
        print(f"not passing, left out: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
