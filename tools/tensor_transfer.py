"""Tensors between the judge and a candidate process: a description in JSON, then the bytes on
the same socket.

The judge sends the audit's inputs this way and gets the candidate's outputs back
(tools/judge.py). Nothing of either process's memory is shared: the bytes arrive in memory of
the receiver's own, so a sender can change nothing it has sent. They go through the socket, not
a file, because the sandbox limits the size of every file a task writes (RLIMIT_FSIZE), memory
files too, and a problem's tensors may be larger. A description from the candidate's side is
checked before use (a real dtype, sizes that add up, bytes that are there, no more bytes than
the receiver expects): TransferError otherwise.
"""

from __future__ import annotations

import socket
from typing import Any

import torch

JSON_SCALARS = (bool, int, float, str, type(None))
ALIGN = 64
CHUNK = 16 << 20


class TransferError(Exception):
    """Values that cannot be sent this way, or a description that does not fit its bytes."""


def pack(values: list[Any]) -> tuple[list[dict[str, Any]], torch.Tensor]:
    """A description of `values` and their tensors' bytes, in host memory, to send after it.

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
            total += aligned(nbytes)  # every tensor starts aligned for any dtype
        elif isinstance(value, JSON_SCALARS):
            described.append({"value": value})
        else:
            raise TransferError(f"an input of type {type(value).__name__} cannot be sent")
    data = torch.empty(total, dtype=torch.uint8)
    for tensor, offset in tensors:
        size = tensor.numel() * tensor.element_size()
        data[offset:offset + size].copy_(as_bytes(tensor))
    return described, data


def aligned(nbytes: int) -> int:
    return -(-nbytes // ALIGN) * ALIGN


def send_bytes(link: socket.socket, data: torch.Tensor) -> None:
    """`data` (pack's) on the stream, right after the frame that says how many bytes follow."""
    if data.numel():
        link.sendall(data.numpy())


def receive_bytes(link: socket.socket, size: Any, limit: int) -> torch.Tensor:
    """The `size` bytes that follow a frame, into host memory of this process's own; at most
    `limit` of them, or TransferError before anything is allocated."""
    if not isinstance(size, int) or not 0 <= size <= limit:
        raise TransferError(f"{size!r} bytes announced, where at most {limit} may follow")
    data = torch.empty(size, dtype=torch.uint8)
    view = memoryview(data.numpy())
    got = 0
    while got < size:
        count = link.recv_into(view[got:], min(size - got, CHUNK))
        if not count:
            raise TransferError(f"the sender stopped after {got} of {size} bytes")
        got += count
    return data


def unpack(described: Any, data: torch.Tensor, device: torch.device | str) -> list[Any]:
    """The values `pack` described, as new tensors on `device`."""
    if not isinstance(described, list):
        raise TransferError("the description is not a list")
    values: list[Any] = []
    for entry in described:
        if isinstance(entry, dict) and isinstance(entry.get("tensor"), dict):
            values.append(read_tensor(entry["tensor"], data, device))
        elif (isinstance(entry, dict) and "value" in entry
              and isinstance(entry["value"], JSON_SCALARS)):
            values.append(entry["value"])
        else:
            raise TransferError(f"an entry that describes no value: {str(entry)[:200]}")
    return values


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
