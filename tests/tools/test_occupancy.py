"""Occupancy from registers, shared memory and warps, against hand-worked sm_90 cases."""

from __future__ import annotations

from kernel_agent.tools.occupancy import limits_for, occupancy, occupancy_table

H100 = limits_for(90)


def test_few_registers_no_shared_memory_is_limited_by_warp_slots() -> None:
    result = occupancy(24, 0, 4, H100)
    assert (result.blocks_per_sm, result.warps_per_sm, result.fraction) == (16, 64, 1.0)
    assert result.limiters == ["warps"]


def test_registers_are_allocated_per_warp_in_units_of_256_per_sub_partition() -> None:
    # 168 registers x 32 threads = 5376 per warp; a 16384-register sub-partition holds 3 such
    # warps, so 12 per SM: one block of 8 warps.
    result = occupancy(168, 0, 8, H100)
    assert (result.blocks_per_sm, result.warps_per_sm) == (1, 8)
    assert result.limiters == ["registers"]
    # 100 registers round up to 3328 per warp: 4 warps per sub-partition, 16 per SM.
    assert occupancy(100, 0, 4, H100).blocks_per_sm == 4


def test_shared_memory_counts_the_reserved_kilobyte_and_its_granularity() -> None:
    # 100 KiB + 1 KiB reserved = 103424 B per block; 228 KiB per SM holds two.
    result = occupancy(32, 100 * 1024, 4, H100)
    assert (result.blocks_per_sm, result.limiters) == (2, ["shared memory"])
    # 116224 B per block would fit twice without the reserved kilobyte, but not with it.
    assert occupancy(32, 116224, 4, H100).blocks_per_sm == 1


def test_over_the_per_block_limits_nothing_launches() -> None:
    assert occupancy(32, 228 * 1024, 4, H100).blocks_per_sm == 0  # 227 KiB is the block limit
    assert occupancy(72, 0, 32, H100).blocks_per_sm == 0  # 73728 registers > 65536 per block
    assert occupancy(256, 0, 1, H100).blocks_per_sm == 0  # over 255 registers per thread


def test_table_and_other_architectures() -> None:
    table = occupancy_table(64, 0, H100)
    assert [o.num_warps for o in table] == [1, 2, 4, 8, 16, 32]
    assert table[0].fraction == 0.5  # 32 blocks of one warp fill half of the 64 warp slots
    assert limits_for(89).max_warps == 48 and limits_for(87) == limits_for(86)
    assert limits_for(120).capability == 100
