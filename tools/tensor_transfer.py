"""Tensors between the judge and a candidate process: bytes in a memfd, a description in JSON.

The judge sends the audit's inputs this way and gets the candidate's outputs back
(tools/judge.py). Nothing of either process's memory is shared: the receiver copies the bytes
into tensors of its own before it uses them, so a sender that keeps writing into the memfd
changes nothing it was given. A description from the candidate's side is checked before use
(a real dtype, sizes that add up, bytes that are there): TransferError otherwise.
"""

from __future__ import annotations

import contextlib
import mmap
import os
from collections.abc import Iterator
from typing import Any

import torch

JSON_SCALARS = (bool, int, float, str, type(None))
ALIGN = 64


class TransferError(Exception):
    """Values that cannot be sent this way, or a description that does not fit its bytes."""


def pack(values: list[Any]) -> tuple[list[dict[str, Any]], int]:
    """A description of `values` and a memfd holding their tensors' bytes (the caller closes it).

    A tensor keeps its strides where they describe a dense, non-overlapping layout (a transposed
    input stays transposed); other layouts arrive contiguous.
    """
    described: list[dict[str, Any]] = []
    tensors: list[tuple[torch.Tensor, int]] = []
    total = 0
    for value in values:
        if isinstance(value, torch.Tensor):
            nbytes = value.numel() * value.element_size()
            described.append({"tensor": {
                "dtype": str(value.dtype).removeprefix("torch."), "shape": list(value.shape),
                "stride": list(value.stride()) if dense(value) else None,
                "offset": total, "nbytes": nbytes}})
            tensors.append((value, total))
            total += -(-nbytes // ALIGN) * ALIGN  # every tensor starts aligned for any dtype
        elif isinstance(value, JSON_SCALARS):
            described.append({"value": value})
        else:
            raise TransferError(f"an input of type {type(value).__name__} cannot be sent")
    fd = os.memfd_create("kernel-agent-tensors", os.MFD_CLOEXEC)
    if total:
        os.ftruncate(fd, total)
        with mapped(fd, total) as buffer:
            for tensor, offset in tensors:
                size = tensor.numel() * tensor.element_size()
                buffer[offset:offset + size].copy_(as_bytes(tensor))
    return described, fd


def unpack(described: Any, fd: int, device: torch.device | str) -> list[Any]:
    """The values `pack` described, as new tensors on `device`."""
    if not isinstance(described, list):
        raise TransferError("the description is not a list")
    values: list[Any] = []
    with mapped(fd, os.fstat(fd).st_size, flags=mmap.MAP_PRIVATE) as buffer:
        for entry in described:
            if isinstance(entry, dict) and isinstance(entry.get("tensor"), dict):
                values.append(read_tensor(entry["tensor"], buffer, device))
            elif (isinstance(entry, dict) and "value" in entry
                  and isinstance(entry["value"], JSON_SCALARS)):
                values.append(entry["value"])
            else:
                raise TransferError(f"an entry that describes no value: {str(entry)[:200]}")
    return values


@contextlib.contextmanager
def mapped(fd: int, size: int, flags: int = mmap.MAP_SHARED) -> Iterator[torch.Tensor]:
    """The memfd's bytes as a uint8 tensor, for the duration only: the mapping is removed once
    no tensor over it can be left (an empty tensor for an empty file)."""
    if not size:
        yield torch.empty(0, dtype=torch.uint8)
        return
    area = mmap.mmap(fd, size, flags=flags)
    holder = [torch.frombuffer(area, dtype=torch.uint8)]
    try:
        yield holder[0]
    finally:
        holder.clear()
        area.close()


def read_tensor(spec: dict[str, Any], buffer: torch.Tensor,
                device: torch.device | str) -> torch.Tensor:
    try:
        dtype = getattr(torch, str(spec["dtype"]))
        shape = [int(n) for n in spec["shape"]]
        offset, nbytes = int(spec["offset"]), int(spec["nbytes"])
        stride = None if spec.get("stride") is None else [int(n) for n in spec["stride"]]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise TransferError(f"a tensor description that cannot be read ({exc})") from None
    if not isinstance(dtype, torch.dtype) or any(n < 0 for n in shape) or offset < 0:
        raise TransferError(f"a tensor description that is not one: {str(spec)[:200]}")
    count = 1
    for n in shape:
        count *= n
    itemsize = torch.empty((), dtype=dtype).element_size()
    available = buffer.numel()
    if nbytes != count * itemsize or offset + nbytes > available:
        raise TransferError(f"a tensor of {shape} {dtype} does not match its {nbytes} bytes at "
                            f"{offset} (of {available})")
    out = (torch.empty(shape, dtype=dtype, device=device) if stride is None
           else torch.empty_strided(shape, stride, dtype=dtype, device=device))
    if count:
        data = buffer[offset:offset + nbytes].view(dtype).reshape(shape)
        out.copy_(data)
    return out


def dense(tensor: torch.Tensor) -> bool:
    """Whether the tensor's strides are a permutation of a contiguous layout's."""
    order = sorted(range(tensor.dim()), key=lambda d: tensor.stride(d))
    expected = 1
    for d in order:
        if tensor.size(d) != 1 and tensor.stride(d) != expected:
            return False
        expected *= tensor.size(d)
    return True


def as_bytes(tensor: torch.Tensor) -> torch.Tensor:
    """The tensor's elements in row-major order, as uint8 (on the tensor's device)."""
    return tensor.detach().contiguous().reshape(-1).view(torch.uint8)
