"""A candidate's device outputs read by the judge in place, through CUDA IPC, not copied.

Sending a 6 GiB output through the audit's socket (tools/tensor_transfer.py) takes about a
second: device to host, the socket, host to device. When both processes use the same GPU, the
candidate's process can instead hand over an IPC handle of the allocation that holds each
output, and the judge maps that allocation and compares the output where it lies.

What the judge reads this way is no more the candidate's to choose than bytes sent on the
socket: the candidate's process could rewrite the memory while it is compared, but it could as
well have sent any bytes it liked; the comparison judges what it reads. What the judge does
not take on trust is where it reads: an offset and size past the end of the mapped allocation
would make the judge's own kernel read outside it (an illegal address, which would end the
judge's CUDA context), so every span is checked against the allocation's size as the driver
reports it, and its offset against its element size (a misaligned read faults too), before
anything is read. A handle that cannot be opened (another device, memory that is not
IPC-capable, such as expandable segments) raises ShareError, and the judge asks for the bytes
instead.

The driver API is called through ctypes on the process's own libcuda (the one PyTorch uses):
PyTorch's own IPC path would have the judge open a reference-count file named by the sender.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Iterator
from typing import Any

import torch

from kernel_agent.tools import tensor_transfer

CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS = 1
HANDLE_BYTES = 64
DRIVER: list[ctypes.CDLL] = []


class ShareError(Exception):
    """Outputs that cannot be handed over, or a hand-over that cannot be opened as described."""


class IpcHandle(ctypes.Structure):
    _fields_ = [("reserved", ctypes.c_char * HANDLE_BYTES)]


def driver() -> ctypes.CDLL:
    if not DRIVER:
        try:
            DRIVER.append(ctypes.CDLL("libcuda.so.1"))
        except OSError as exc:
            raise ShareError(f"the CUDA driver library could not be loaded ({exc})") from None
    return DRIVER[0]


def call(name: str, *args: Any) -> None:
    """A driver API call; ShareError naming it if it does not return CUDA_SUCCESS."""
    lib = driver()
    function = getattr(lib, f"{name}_v2", None) or getattr(lib, name)
    result = function(*args)
    if result != 0:
        raise ShareError(f"{name} failed with CUresult {result}")


def address_range(pointer: int) -> tuple[int, int]:
    """The base address and size of the allocation that holds `pointer`."""
    base, size = ctypes.c_uint64(), ctypes.c_size_t()
    call("cuMemGetAddressRange", ctypes.byref(base), ctypes.byref(size), ctypes.c_uint64(pointer))
    return base.value, size.value


def export(values: list[Any]) -> list[dict[str, Any]]:
    """The description of `values` with, for each tensor, an IPC handle of its allocation and its
    offset in it (in the candidate's process; its device work must be finished)."""
    described, _ = tensor_transfer.describe(values)
    for value, entry in zip(values, described, strict=True):
        if not isinstance(value, torch.Tensor):
            continue
        if not value.is_cuda:
            raise ShareError("only device tensors are handed over in place")
        spec = entry["tensor"]
        if spec["stride"] is None:
            raise ShareError("a tensor whose layout is not dense is sent as bytes")
        torch.cuda.set_device(value.device)
        pointer = value.data_ptr()  # a dense layout's lowest address: no stride is negative
        base, _ = address_range(pointer)
        handle = IpcHandle()
        call("cuIpcGetMemHandle", ctypes.byref(handle), ctypes.c_uint64(base))
        spec.update(handle=bytes(handle).hex(), at=pointer - base)  # all 64 bytes, zeros too
    return described


@contextlib.contextmanager
def opened(described: Any, device: torch.device, limit: int) -> Iterator[list[Any]]:
    """The values a candidate's process handed over (`export`), its tensors mapped from its
    allocations on `device`; at most `limit` bytes of tensors. The mappings close on the way
    out, after the device's work on them is done: nothing may keep the tensors beyond it."""
    if device.type != "cuda":
        raise ShareError(f"nothing is handed over in place on {device}")
    layout = checked_layout(described, limit)
    mapped: dict[str, tuple[int, int]] = {}
    try:
        with torch.cuda.device(device):
            torch.cuda.synchronize(device)  # this thread's context is the current one
            yield [entry[0] if not isinstance(entry, dict)
                   else view(entry, mapping(entry["handle"], mapped), device)
                   for entry in layout]
    finally:
        with contextlib.suppress(RuntimeError):
            torch.cuda.synchronize(device)  # no kernel still reads what is unmapped next
        for pointer, _ in mapped.values():
            with contextlib.suppress(ShareError):
                call("cuIpcCloseMemHandle", ctypes.c_uint64(pointer))


def checked_layout(described: Any, limit: int) -> list[Any]:
    """Each entry as a checked tensor spec with its handle and offset, or a scalar in a 1-tuple:
    the socket's description (tools/tensor_transfer.py, its tensors inside `limit` bytes laid
    out as they would be sent) with a handle and an offset in its allocation for each tensor;
    ShareError for anything else."""
    try:
        layout = tensor_transfer.read_layout(described, limit)
    except tensor_transfer.TransferError as exc:
        raise ShareError(f"a hand-over that cannot be read: {exc}") from None
    checked: list[Any] = []
    for entry, spec in zip(described, layout, strict=True):
        if not isinstance(spec, dict):
            checked.append(spec)
            continue
        try:
            handle = bytes.fromhex(str(entry["tensor"]["handle"]))
            at = int(entry["tensor"]["at"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ShareError(f"a handed-over tensor that cannot be read ({exc})") from None
        if len(handle) != HANDLE_BYTES or at < 0 or spec["stride"] is None:
            raise ShareError(f"a handed-over tensor that is not one: {str(entry)[:200]}")
        if at % torch.empty((), dtype=spec["dtype"]).element_size():  # a read would fault
            raise ShareError(f"a handed-over tensor at {at}, not aligned to its elements")
        checked.append({**spec, "handle": handle.hex(), "at": at})
    return checked


def mapping(handle: str, mapped: dict[str, tuple[int, int]]) -> tuple[int, int]:
    """The judge's address and the size of the allocation behind `handle`, opened once however
    many outputs lie in it."""
    if handle not in mapped:
        raw = IpcHandle.from_buffer_copy(bytes.fromhex(handle))
        pointer = ctypes.c_uint64()
        call("cuIpcOpenMemHandle", ctypes.byref(pointer), raw,
             ctypes.c_uint(CU_IPC_MEM_LAZY_ENABLE_PEER_ACCESS))
        mapped[handle] = (pointer.value, 0)  # closed on the way out, even if what follows fails
        base, size = address_range(pointer.value)
        if base != pointer.value:
            raise ShareError("the driver mapped the handle inside an allocation, not at its start")
        mapped[handle] = (pointer.value, size)
    return mapped[handle]


def view(spec: dict[str, Any], allocation: tuple[int, int], device: torch.device) -> torch.Tensor:
    """A tensor over `spec`'s span of a mapped allocation, once the span is inside it."""
    pointer, size = allocation
    if spec["at"] + spec["nbytes"] > size:
        raise ShareError(f"a tensor of {spec['nbytes']} bytes at {spec['at']} ends past its "
                         f"allocation of {size} bytes")
    if not spec["nbytes"]:
        return torch.empty(spec["shape"], dtype=spec["dtype"], device=device)
    try:
        raw = torch.as_tensor(DeviceBytes(pointer + spec["at"], spec["nbytes"]), device=device)
        return raw.view(spec["dtype"]).as_strided(spec["shape"], spec["stride"])
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ShareError(f"the mapped memory could not be read as a tensor ({exc})") from None


class DeviceBytes:
    """`nbytes` of device memory at `pointer`, as the CUDA array interface describes them (how
    torch.as_tensor takes memory it does not own)."""

    def __init__(self, pointer: int, nbytes: int) -> None:
        self.__cuda_array_interface__ = {"shape": (nbytes,), "typestr": "|u1",
                                         "data": (pointer, False), "strides": None,
                                         "version": 2}
