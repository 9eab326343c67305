"""Reading compiled kernels: SASS and resource usage from a cubin, and what the text says.

The cubin is disassembled with the nvdisasm and cuobjdump that Triton's wheel ships, so this
works without a GPU. The rest is plain text work on SASS or PTX: an instruction histogram
grouped the way a kernel engineer reads it (matrix instructions with their shape, memory
instructions with their width, everything else by base opcode), a regex search with context,
and local-memory (spill) evidence.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

TOOL_TIMEOUT_S = 120

SASS_LINE = re.compile(
    r"^\s*/\*[0-9a-fA-F]{4,}\*/\s+(?:\{\s*)?(?:@!?U?P[0-9T]+\s+)?"
    r"(?P<opcode>[A-Z][A-Z0-9_]*(?:\.[A-Za-z0-9_]+)*)(?P<operands>[^;]*);")
MATRIX_OPS = {"HMMA", "HGMMA", "IMMA", "IGMMA", "QGMMA", "BGMMA", "DMMA", "BMMA", "OMMA",
              "QMMA", "UTCHMMA", "UTCQMMA", "UTCIMMA", "UTCOMMA", "UTCMMA"}
MEMORY_OPS = {"LDG", "STG", "LDS", "STS", "LDL", "STL", "LD", "ST", "LDSM", "STSM", "LDGSTS",
              "ATOM", "ATOMG", "ATOMS", "RED", "REDG"}
SYNC_OPS = {"BAR", "SYNCS", "WARPGROUP", "MEMBAR", "DEPBAR", "FENCE", "WARPSYNC"}
WIDTH_MODIFIER = re.compile(r"^(E|\d+|[US]\d+|MT?\d+|X\d+|TRANS)$")

PTX_SKIP = re.compile(r"^(\.|//|\{|\}|\$|[A-Za-z_$][\w$]*:|\)|\(|$)")
PTX_LOCAL_DECL = re.compile(r"\.local\s+(?:\.align\s+\d+\s+)?\.(?:b|u|s|f)(\d+)\s+[\w$]+\[(\d+)\]")
PTXAS_REGISTERS = re.compile(r"Used (\d+) registers")
PTXAS_SPILLS = re.compile(
    r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
LINE_INFO = re.compile(r'(// |inlined at )"([^"]+)", line (\d+)')
RES_USAGE_FUNCTION = re.compile(r"Function ([^:\s]+):\s*\n\s*(.*)")
RES_USAGE_FIELD = re.compile(r"([A-Z]+(?:\[\d+\])?):(\d+)")


def nvidia_tool(name: str) -> str:
    """Path of a CUDA binary shipped with Triton (cuobjdump, nvdisasm, ptxas)."""
    from triton import knobs

    return getattr(knobs.nvidia, name).path


def run_tool(args: list[str]) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(args[0]).name} failed: {done.stderr.strip()[:500]}")
    return done.stdout


def with_binary(data: bytes, suffix: str, args: list[str]) -> str:
    """Run a tool on `data` written to a temporary file (its path replaces "{}" in args)."""
    with tempfile.NamedTemporaryFile(suffix=suffix) as f:
        f.write(data)
        f.flush()
        return run_tool([f.name if a == "{}" else a for a in args])


def disassemble(cubin: bytes) -> str:
    """SASS with source-line annotations (`// file.py:12`) where the cubin has line info."""
    try:
        text = with_binary(cubin, ".cubin", [nvidia_tool("nvdisasm"), "-c", "-gi", "{}"])
    except RuntimeError:
        return with_binary(cubin, ".cubin", [nvidia_tool("cuobjdump"), "-sass", "{}"])
    return LINE_INFO.sub(lambda m: f"{m[1]}{Path(m[2]).name}:{m[3]}",
                         text.replace("//## File ", "// "))


def resource_usage(binary: bytes, suffix: str = ".cubin") -> dict[str, dict[str, int]]:
    """Per function: REG, STACK, SHARED, LOCAL, ... as cuobjdump -res-usage reports them."""
    text = with_binary(binary, suffix, [nvidia_tool("cuobjdump"), "-res-usage", "{}"])
    return parse_resource_usage(text)


def parse_resource_usage(text: str) -> dict[str, dict[str, int]]:
    return {name: {k: int(v) for k, v in RES_USAGE_FIELD.findall(fields)}
            for name, fields in RES_USAGE_FUNCTION.findall(text)}


@dataclass
class PtxasInfo:
    """What `ptxas -v` said about one compiled function."""

    registers: int | None = None
    stack_bytes: int | None = None
    spill_stores: int | None = None
    spill_loads: int | None = None


def parse_ptxas_log(log: str) -> PtxasInfo:
    info = PtxasInfo()
    if match := PTXAS_REGISTERS.search(log):
        info.registers = int(match[1])
    if match := PTXAS_SPILLS.search(log):
        info.stack_bytes, info.spill_stores, info.spill_loads = (int(g) for g in match.groups())
    return info


def sass_opcodes(sass: str) -> list[str]:
    return [m["opcode"] for line in sass.splitlines() if (m := SASS_LINE.match(line))]


def group_sass(opcode: str) -> str:
    """The histogram bucket of a SASS opcode.

    Matrix instructions keep their shape and types (HGMMA.64x128x16.F32.BF16), memory
    instructions their width (LDG.E.128) but not cache hints, synchronisation its kind
    (BAR.SYNC); the rest is grouped by base opcode (FFMA, IMAD).
    """
    base, *modifiers = opcode.split(".")
    if base in MATRIX_OPS:
        return opcode
    if base in MEMORY_OPS:
        return ".".join([base, *(m for m in modifiers if WIDTH_MODIFIER.match(m))])
    if base in SYNC_OPS and modifiers:
        return f"{base}.{modifiers[0]}"
    return base


def ptx_opcodes(ptx: str) -> list[str]:
    opcodes = []
    for raw in ptx.splitlines():
        line = raw.strip()
        if PTX_SKIP.match(line):
            continue
        if line.startswith("@"):
            line = line.split(None, 1)[1] if " " in line else ""
        token = line.split(None, 1)[0].rstrip(";") if line else ""
        if token and token[0].isalpha():
            opcodes.append(token)
    return opcodes


def histogram(text: str, kind: str) -> Counter[str]:
    """Static instruction counts of SASS (grouped; NOP padding left out) or PTX (by opcode)."""
    if kind == "sass":
        return Counter(group_sass(op) for op in sass_opcodes(text) if op != "NOP")
    return Counter(ptx_opcodes(text))


def histogram_text(counts: Counter[str], top: int = 40) -> str:
    total = sum(counts.values())
    lines = [f"{total} instructions (static count), {len(counts)} kinds"]
    lines += [f"{n:6d}  {op}" for op, n in counts.most_common(top)]
    if len(counts) > top:
        lines.append(f"   ... {len(counts) - top} more kinds")
    return "\n".join(lines)


def highlights(counts: Counter[str]) -> dict[str, int]:
    """The counts a kernel engineer looks for first, from a grouped SASS histogram."""

    def total(test: object) -> int:
        return sum(n for op, n in counts.items() if test(op))  # type: ignore[operator]

    return {
        "instructions": sum(counts.values()),
        "tensor_core": total(lambda op: op.split(".")[0] in MATRIX_OPS),
        "global_load_128": total(lambda op: op.startswith(("LDG", "LD.")) and ".128" in op),
        "global_loads": total(lambda op: op.split(".")[0] in {"LDG", "LD", "LDGSTS"}),
        "global_stores": total(lambda op: op.split(".")[0] in {"STG", "ST"}),
        "shared_accesses": total(lambda op: op.split(".")[0] in {"LDS", "STS", "LDSM", "STSM"}),
        "local_accesses": total(lambda op: op.split(".")[0] in {"LDL", "STL"}),
        "barriers": total(lambda op: op.startswith("BAR")),
        "ffma": counts.get("FFMA", 0),
    }


def local_memory(sass: str, ptx: str | None = None) -> dict[str, int]:
    """Evidence of local memory: SASS LDL/STL (spills or local arrays), PTX .local arrays."""
    ops = Counter(op.split(".")[0] for op in sass_opcodes(sass))
    found = {"sass_ldl": ops.get("LDL", 0), "sass_stl": ops.get("STL", 0)}
    if ptx is not None:
        found["ptx_local_bytes"] = sum(int(bits) // 8 * int(n)
                                       for bits, n in PTX_LOCAL_DECL.findall(ptx))
        found["ptx_local_ops"] = len(re.findall(r"\b(?:ld|st)\.local\b", ptx))
    return found


def local_memory_text(found: dict[str, int]) -> str:
    ldl, stl = found["sass_ldl"], found["sass_stl"]
    if not ldl and not stl:
        return "local memory: none (no LDL/STL in SASS)"
    text = f"local memory: {ldl} LDL and {stl} STL in SASS"
    if found.get("ptx_local_bytes") or found.get("ptx_local_ops"):
        text += (f"; the PTX itself declares {found['ptx_local_bytes']} B of .local "
                 f"({found['ptx_local_ops']} ld/st.local): arrays placed in local memory")
    elif "ptx_local_bytes" in found:
        text += "; the PTX has no .local, so these are register spills by ptxas"
    return text


def search(text: str, pattern: str, context: int = 2, max_matches: int = 50) -> str:
    """Lines matching `pattern` (a regex) with `context` lines around each, numbered."""
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        return f"invalid regular expression {pattern!r}: {exc}"
    lines = text.splitlines()
    hits = [i for i, line in enumerate(lines) if regex.search(line)]
    if not hits:
        return f"no line matches {pattern!r}"
    shown, matched = hits[:max_matches], set(hits)
    out = [f"{len(hits)} matching lines" + (f" (first {max_matches} shown)"
                                            if len(hits) > max_matches else "")]
    last = -1
    for hit in shown:
        start, end = max(0, hit - context), min(len(lines), hit + context + 1)
        if start > last + 1 and last >= 0:
            out.append("--")
        for i in range(max(start, last + 1), end):
            out.append(f"{'>' if i in matched else ' '}{i + 1:6d}: {lines[i]}")
        last = max(last, end - 1)
    return "\n".join(out)
