"""Reading SASS, PTX and tool logs: grouping, histogram, search, spill evidence."""

from __future__ import annotations

from kernel_agent.tools import disasm

SASS = """\
        /*0000*/                   LDC R1, c[0x0][0x28] ;
\t// copy_vectorised.py:13
        /*0010*/                   S2R R0, SR_TID.X ;
        /*0100*/              @!P0 LDG.E.128.CONSTANT R4, desc[UR4][R8.64] ;
        /*0110*/              @!P1 LDG.E.EL.128 R12, desc[UR4][R8.64+0x800] ;
        /*0120*/                   STL.64 [R1+0x8], R4 ;
        /*0130*/                   LDL.64 R6, [R1+0x8] ;
        /*0140*/                   HGMMA.64x128x16.F32.BF16 R24, gdesc[UR8], RZ, !UPT, gsb0 ;
        /*0150*/                   BAR.SYNC.DEFER_BLOCKING 0x0 ;
        /*0160*/                   FFMA R2, R3, R4, R2 ;
        /*0170*/                   FFMA R5, R3, R6, R5 ;
        /*0180*/                   IMAD.WIDE.U32 R2, R9, 0x4, R2 ;
        /*0190*/              @!P0 STG.E.128 desc[UR4][R2.64], R4 ;
        /*01a0*/                   EXIT ;
        /*01b0*/                   NOP;
"""

PTX = """\
.visible .entry copy_kernel(
\t.param .u64 copy_kernel_param_0
)
{
\t.reg .b32 \t%r<9>;
$L__BB0_1:
\t@%p1 ld.global.v4.b32 { %r1, %r2, %r3, %r4 }, [ %rd1 + 0 ];
\tmov.u32 \t%r5, %tid.x;
\tst.global.v4.b32 [ %rd2 + 0 ], { %r1, %r2, %r3, %r4 };
\tret;
}
"""


def test_grouping_keeps_what_matters_per_instruction_class() -> None:
    assert disasm.group_sass("HGMMA.64x128x16.F32.BF16") == "HGMMA.64x128x16.F32.BF16"
    assert disasm.group_sass("HMMA.16816.F32") == "HMMA.16816.F32"
    assert disasm.group_sass("LDG.E.128.CONSTANT") == "LDG.E.128"
    assert disasm.group_sass("LDG.E.EL.128") == "LDG.E.128"
    assert disasm.group_sass("LDSM.16.M88.4") == "LDSM.16.M88.4"
    assert disasm.group_sass("BAR.SYNC.DEFER_BLOCKING") == "BAR.SYNC"
    assert disasm.group_sass("IMAD.WIDE.U32") == "IMAD"


def test_sass_histogram_counts_predicated_instructions_and_skips_padding() -> None:
    counts = disasm.histogram(SASS, "sass")
    assert counts["LDG.E.128"] == 2 and counts["FFMA"] == 2 and counts["STG.E.128"] == 1
    assert "NOP" not in counts and sum(counts.values()) == 13
    highlights = disasm.highlights(counts)
    assert highlights["tensor_core"] == 1 and highlights["global_load_128"] == 2
    assert highlights["local_accesses"] == 2 and highlights["barriers"] == 1
    assert disasm.histogram_text(counts, top=2).splitlines()[0].startswith("13 instructions")


def test_ptx_histogram_uses_full_opcodes() -> None:
    counts = disasm.histogram(PTX, "ptx")
    assert counts == {"ld.global.v4.b32": 1, "mov.u32": 1, "st.global.v4.b32": 1, "ret": 1}


def test_local_memory_without_ptx_locals_is_reported_as_spills() -> None:
    found = disasm.local_memory(SASS, PTX)
    assert found == {"sass_ldl": 1, "sass_stl": 1, "ptx_local_bytes": 0, "ptx_local_ops": 0}
    assert "register spills" in disasm.local_memory_text(found)
    arrays = PTX + ".local .align 16 .b8 \t__local_depot0[64];\n\tst.local.u32 [%rd3], %r1;\n"
    text = disasm.local_memory_text(disasm.local_memory(SASS, arrays))
    assert "64 B of .local" in text and "arrays placed in local memory" in text
    assert disasm.local_memory_text(disasm.local_memory("")).startswith("local memory: none")


def test_search_returns_numbered_matches_with_context() -> None:
    text = disasm.search(SASS, r"LDG\.E", context=1)
    lines = text.splitlines()
    assert lines[0] == "2 matching lines"
    assert [line[0] for line in lines[1:]] == [" ", ">", ">", " "]
    assert lines[2].split(":")[0].replace(" ", "") == ">4"
    assert "no line matches" in disasm.search(SASS, "HMMA")
    assert "invalid regular expression" in disasm.search(SASS, "(")


def test_tool_outputs_are_parsed() -> None:
    log = ("ptxas info    : Compiling entry function 'k' for 'sm_90a'\n"
           "ptxas info    : Function properties for k\n"
           "    16 bytes stack frame, 24 bytes spill stores, 20 bytes spill loads\n"
           "ptxas info    : Used 255 registers, used 1 barriers, 576 bytes cmem[0]\n")
    info = disasm.parse_ptxas_log(log)
    assert (info.registers, info.stack_bytes, info.spill_stores, info.spill_loads) == (
        255, 16, 24, 20)
    usage = disasm.parse_resource_usage(
        "Resource usage:\n Common:\n  GLOBAL:0\n Function copy_kernel:\n"
        "  REG:18 STACK:0 SHARED:0 LOCAL:0 CONSTANT[0]:560 TEXTURE:0 SURFACE:0 SAMPLER:0\n")
    assert usage == {"copy_kernel": {"REG": 18, "STACK": 0, "SHARED": 0, "LOCAL": 0,
                                     "CONSTANT[0]": 560, "TEXTURE": 0, "SURFACE": 0,
                                     "SAMPLER": 0}}
