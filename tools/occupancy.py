"""How many blocks of a kernel fit on one SM, from its registers, shared memory and warps.

The same arithmetic as CUDA's occupancy calculator, for the architectures a kernel is usually
built for: registers are allocated per warp in units of 256 within each of the four SM
sub-partitions, shared memory per block in units of 128 bytes plus 1 KiB the driver reserves, and
the warp and block slots of the SM cap the rest. Knowing which limit binds tells the model what to
change (fewer registers, smaller tiles, more or fewer warps).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

WARP_SIZE = 32


@dataclass(frozen=True)
class SMLimits:
    """Per-SM resources of one compute capability."""

    capability: int
    max_warps: int
    max_blocks: int
    shared_per_sm: int  # bytes usable by blocks (the largest carveout)
    shared_per_block: int  # bytes one block may opt in to
    registers_per_sm: int = 65536
    registers_per_block: int = 65536
    max_registers_per_thread: int = 255
    register_unit: int = 256  # registers are handed to a warp in multiples of this
    sub_partitions: int = 4
    shared_unit: int = 128
    shared_reserved_per_block: int = 1024


KIB = 1024
LIMITS = {
    80: SMLimits(80, max_warps=64, max_blocks=32, shared_per_sm=164 * KIB,
                 shared_per_block=163 * KIB),
    86: SMLimits(86, max_warps=48, max_blocks=16, shared_per_sm=100 * KIB,
                 shared_per_block=99 * KIB),
    89: SMLimits(89, max_warps=48, max_blocks=24, shared_per_sm=100 * KIB,
                 shared_per_block=99 * KIB),
    90: SMLimits(90, max_warps=64, max_blocks=32, shared_per_sm=228 * KIB,
                 shared_per_block=227 * KIB),
    100: SMLimits(100, max_warps=64, max_blocks=32, shared_per_sm=228 * KIB,
                  shared_per_block=227 * KIB),
}


def limits_for(capability: int) -> SMLimits:
    """The limits of `capability`, or of the nearest older architecture listed."""
    known = [c for c in sorted(LIMITS) if c <= capability]
    return LIMITS[known[-1]] if known else LIMITS[min(LIMITS)]


@dataclass
class Occupancy:
    """Blocks and warps resident per SM, and the resources that bound them."""

    num_warps: int
    blocks_per_sm: int
    warps_per_sm: int
    max_warps: int
    limiters: list[str]
    blocks_by_limit: dict[str, int]

    @property
    def fraction(self) -> float:
        return self.warps_per_sm / self.max_warps

    def to_dict(self) -> dict:
        return {**asdict(self), "fraction": round(self.fraction, 4)}


def round_up(value: int, unit: int) -> int:
    return -(-value // unit) * unit


def blocks_by_registers(registers: int, warps: int, limits: SMLimits) -> int:
    if registers > limits.max_registers_per_thread:
        return 0
    per_warp = round_up(max(registers, 1) * WARP_SIZE, limits.register_unit)
    if per_warp * warps > limits.registers_per_block:
        return 0
    warps_per_partition = limits.registers_per_sm // limits.sub_partitions // per_warp
    return warps_per_partition * limits.sub_partitions // warps


def blocks_by_shared(shared: int, limits: SMLimits) -> int:
    if shared == 0:
        return limits.max_blocks
    if shared > limits.shared_per_block:
        return 0
    per_block = round_up(shared + limits.shared_reserved_per_block, limits.shared_unit)
    return limits.shared_per_sm // per_block


def occupancy(registers: int, shared: int, num_warps: int, limits: SMLimits) -> Occupancy:
    """Occupancy of blocks of `num_warps` warps using `registers` per thread, `shared` bytes."""
    by_limit = {
        "warps": limits.max_warps // num_warps,
        "blocks": limits.max_blocks,
        "registers": blocks_by_registers(registers, num_warps, limits),
        "shared memory": blocks_by_shared(shared, limits),
    }
    blocks = min(by_limit.values())
    binding = [name for name, value in by_limit.items() if value == blocks]
    return Occupancy(num_warps, blocks, blocks * num_warps, limits.max_warps, binding, by_limit)


def occupancy_table(registers: int, shared: int, limits: SMLimits,
                    warp_counts: tuple[int, ...] = (1, 2, 4, 8, 16, 32)) -> list[Occupancy]:
    """Occupancy at each num_warps, holding registers per thread and shared memory fixed."""
    return [occupancy(registers, shared, w, limits) for w in warp_counts]
