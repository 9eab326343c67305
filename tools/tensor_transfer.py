"""Tensors between the judge and a candidate process: a description in JSON, then the bytes on
the same socket.

The judge sends the audit's inputs this way and gets the candidate's outputs back
(tools/judge.py) where they cannot be read in place (tools/device_share.py). The bytes arrive
in memory of the receiver's own, so a sender can change nothing it has sent. They go through the
socket, not a file, because the sandbox limits the size of every file a task writes
(RLIMIT_FSIZE), memory files too, and a problem's tensors may be larger.

The bytes are streamed in chunks through two page-locked staging buffers on either side, so a
device tensor goes to the socket, and from it to the device, while the next chunk is copied: no
host copy of a whole output is made (for a 512 MiB output, a second of page faults and
pageable copies on a verdict's critical path). A description from the candidate's side is
checked before anything is allocated (a real dtype, a dense layout, sizes that add up, tensors
in order inside the bytes announced, no more bytes than the receiver expects): TransferError
otherwise.
"""

from __future__ import annotations

import math
import socket
from collections.abc import Iterator
from typing import Any

import torch

JSON_SCALARS = (bool, int, float, str, type(None))
ALIGN = 64
CHUNK = 16 << 20
STAGING: list[torch.Tensor] = []  # this process's two staging buffers, made once


class TransferError(Exception):
    """Values that cannot be sent this way, or a description that does not fit its bytes."""


def describe(values: list[Any]) -> tuple[list[dict[str, Any]], int]:
    """The description of `values` and the count of bytes `send` streams after it.

    A tensor keeps its strides where they describe a dense, non-overlapping layout (a transposed
    input stays transposed); other layouts arrive contiguous.
    """
    described: list[dict[str, Any]] = []
    total = 0
    for value in values:
        if isinstance(value, torch.Tensor):
            nbytes = value.numel() * value.element_size()
            described.append({"tensor": {
                "dtype": str(value.dtype).removeprefix("torch."), "shape": list(value.shape),
                "stride": list(value.stride()) if dense(value.shape, value.stride()) else None,
                "offset": total, "nbytes": nbytes}})
            total += aligned(nbytes)  # every tensor starts aligned for any dtype
        elif isinstance(value, JSON_SCALARS):
            described.append({"value": value})
        else:
            raise TransferError(f"a value of type {type(value).__name__} cannot be sent")
    return described, total


def aligned(nbytes: int) -> int:
    return -(-nbytes // ALIGN) * ALIGN


def send(link: socket.socket, values: list[Any]) -> None:
    """The bytes of `values`' tensors, laid out as `describe` says, on the stream: sent right
    after the frame that carries the description."""
    for value in values:
        if isinstance(value, torch.Tensor):
            data = as_bytes(value)
            if data.is_cuda:
                send_from_device(link, data)
            else:
                link.sendall(data.numpy())
            if padding := aligned(data.numel()) - data.numel():
                link.sendall(bytes(padding))


def send_from_device(link: socket.socket, data: torch.Tensor) -> None:
    """Device bytes to the socket, each chunk copied to a staging buffer while the one before
    it is sent."""
    spans = list(chunks(data.numel()))
    with torch.cuda.device(data.device):
        buffers = staging()
        events = [torch.cuda.Event(), torch.cuda.Event()]
        for index in range(-1, len(spans)):
            if index + 1 < len(spans):  # the next chunk's copy, queued before this one is sent
                start, size = spans[index + 1]
                buffers[(index + 1) % 2][:size].copy_(data[start:start + size],
                                                      non_blocking=True)
                events[(index + 1) % 2].record()
            if index >= 0:
                events[index % 2].synchronize()
                link.sendall(buffers[index % 2][:spans[index][1]].numpy())


def receive(link: socket.socket, described: Any, size: Any, limit: int,
            device: torch.device | str) -> list[Any]:
    """The values a frame described (`described`, `size` bytes following it), as new tensors on
    `device`; at most `limit` bytes, or TransferError before anything is allocated."""
    if not isinstance(size, int) or not 0 <= size <= limit:
        raise TransferError(f"{size!r} bytes announced, where at most {limit} may follow")
    layout = read_layout(described, size)
    values: list[Any] = []
    at = 0
    for entry in layout:
        if not isinstance(entry, dict):
            values.append(entry[0])
            continue
        skip(link, entry["offset"] - at, at, size)
        values.append(receive_tensor(link, entry, device, size))
        at = entry["offset"] + entry["nbytes"]
    skip(link, size - at, at, size)
    return values


def read_layout(described: Any, size: int) -> list[Any]:
    """Each entry as a checked tensor spec (dict) or a scalar in a 1-tuple; tensors in order of
    their offsets, without overlap, inside `size` bytes."""
    if not isinstance(described, list):
        raise TransferError("the description is not a list")
    layout: list[Any] = []
    end = 0
    for entry in described:
        if isinstance(entry, dict) and isinstance(entry.get("tensor"), dict):
            spec = checked_spec(entry["tensor"])
            if spec["offset"] < end or spec["offset"] + spec["nbytes"] > size:
                raise TransferError(f"a tensor at {spec['offset']} of {spec['nbytes']} bytes "
                                    f"overlaps the one before it or ends past the {size} bytes")
            end = spec["offset"] + spec["nbytes"]
            layout.append(spec)
        elif (isinstance(entry, dict) and "value" in entry
              and isinstance(entry["value"], JSON_SCALARS)):
            layout.append((entry["value"],))
        else:
            raise TransferError(f"an entry that describes no value: {str(entry)[:200]}")
    return layout


def checked_spec(spec: dict[str, Any]) -> dict[str, Any]:
    try:
        dtype = getattr(torch, str(spec["dtype"]))
        shape = [int(n) for n in spec["shape"]]
        offset, nbytes = int(spec["offset"]), int(spec["nbytes"])
        stride = None if spec.get("stride") is None else [int(n) for n in spec["stride"]]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise TransferError(f"a tensor description that cannot be read ({exc})") from None
    if not isinstance(dtype, torch.dtype) or any(n < 0 for n in shape) or offset < 0:
        raise TransferError(f"a tensor description that is not one: {str(spec)[:200]}")
    if stride is not None and (len(stride) != len(shape) or not dense(shape, stride)):
        raise TransferError(f"strides {stride} are no dense layout of a tensor of {shape}")
    if nbytes != math.prod(shape) * torch.empty((), dtype=dtype).element_size():
        raise TransferError(f"a tensor of {shape} {dtype} does not take {nbytes} bytes")
    return {"dtype": dtype, "shape": shape, "stride": stride, "offset": offset,
            "nbytes": nbytes}


def receive_tensor(link: socket.socket, spec: dict[str, Any], device: torch.device | str,
                   size: int) -> torch.Tensor:
    """One tensor's bytes (row-major) from the stream, into a new tensor with the spec's
    layout."""
    out = torch.empty(spec["shape"], dtype=spec["dtype"], device=device)
    data = as_bytes(out)
    if data.is_cuda:
        receive_to_device(link, data, spec["offset"], size)
    else:
        view = memoryview(data.numpy())
        for start, length in chunks(data.numel()):
            receive_into(link, view[start:start + length], spec["offset"] + start, size)
    if spec["stride"] is not None and list(out.stride()) != spec["stride"]:
        out = torch.empty_strided(spec["shape"], spec["stride"], dtype=spec["dtype"],
                                  device=device).copy_(out)
    return out


def receive_to_device(link: socket.socket, data: torch.Tensor, offset: int, size: int) -> None:
    """Socket to device bytes, each chunk copied on from a staging buffer while the next one
    arrives."""
    with torch.cuda.device(data.device):
        buffers = staging()
        events = [torch.cuda.Event(), torch.cuda.Event()]
        for index, (start, length) in enumerate(chunks(data.numel())):
            buffer = buffers[index % 2]
            events[index % 2].synchronize()  # its last copy to the device is done
            receive_into(link, memoryview(buffer[:length].numpy()), offset + start, size)
            data[start:start + length].copy_(buffer[:length], non_blocking=True)
            events[index % 2].record()
        torch.cuda.current_stream().synchronize()


def skip(link: socket.socket, count: int, at: int, size: int) -> None:
    """Read and drop `count` bytes of padding."""
    if count <= 0:
        return
    view = memoryview(bytearray(min(count, CHUNK)))
    for start, length in chunks(count):
        receive_into(link, view[:length], at + start, size)


def receive_into(link: socket.socket, view: memoryview, at: int, size: int) -> None:
    got = 0
    while got < len(view):
        count = link.recv_into(view[got:])
        if not count:
            raise TransferError(f"the sender stopped after {at + got} of {size} bytes")
        got += count


def chunks(count: int) -> Iterator[tuple[int, int]]:
    for start in range(0, count, CHUNK):
        yield start, min(CHUNK, count - start)


def staging() -> list[torch.Tensor]:
    """Two chunk-sized host buffers, kept for the process's later transfers; page-locked where
    possible (a device copy from page-locked memory runs at the bus's speed and alongside the
    socket's)."""
    if not STAGING:
        try:
            STAGING.extend(torch.empty(CHUNK, dtype=torch.uint8, pin_memory=True)
                           for _ in range(2))
        except RuntimeError:  # no page-locked memory here: pageable buffers do, slower
            STAGING[:] = [torch.empty(CHUNK, dtype=torch.uint8) for _ in range(2)]
    return STAGING


def dense(shape: Any, stride: Any) -> bool:
    """Whether the strides are a permutation of a contiguous layout's for this shape."""
    order = sorted(range(len(shape)), key=lambda d: stride[d])
    expected = 1
    for d in order:
        if shape[d] != 1 and stride[d] != expected:
            return False
        expected *= shape[d]
    return True


def as_bytes(tensor: torch.Tensor) -> torch.Tensor:
    """The tensor's elements in row-major order, as uint8 (on the tensor's device)."""
    return tensor.detach().contiguous().reshape(-1).view(torch.uint8)
