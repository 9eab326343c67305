"""What a candidate's process may say about outputs it hands over in place, checked before the
judge opens anything (tools/device_share.py; the hand-over itself needs a GPU:
tests/gpu/test_device_share_gpu.py)."""

from __future__ import annotations

import pytest
import torch

from kernel_agent.tools import device_share


def entry(**changes: object) -> dict:
    spec = {"dtype": "float32", "shape": [4, 8], "stride": [8, 1], "offset": 0, "nbytes": 128,
            "handle": "0f" * device_share.HANDLE_BYTES, "at": 256}
    return {"tensor": {**spec, **changes}}


def test_a_description_of_tensors_and_scalars_is_read():
    layout = device_share.checked_layout(
        [entry(), {"value": 3}, entry(stride=[1, 4], offset=128)], 1 << 20)
    assert layout[1] == (3,)
    assert layout[0]["dtype"] == torch.float32 and layout[0]["at"] == 256
    assert layout[2]["stride"] == [1, 4]


@pytest.mark.parametrize(("described", "limit", "why"), [
    ("a string", 1 << 20, "not a list"),
    ([entry()], 100, "ends past the 100 bytes"),
    ([entry(), entry(offset=128)], 200, "ends past the 200 bytes"),
    ([entry(), entry()], 1 << 20, "overlaps the one before it"),
    ([entry(handle="0f")], 1 << 20, "not one"),
    ([entry(handle="not hex")], 1 << 20, "cannot be read"),
    ([entry(at=-1)], 1 << 20, "not one"),
    ([entry(stride=[1, 1])], 1 << 20, "cannot be read"),
    ([entry(nbytes=64)], 1 << 20, "cannot be read"),
    ([entry(dtype="Tensor")], 1 << 20, "cannot be read"),
    ([{"value": object}], 1 << 20, "describes no value"),
    ([entry(at=258)], 1 << 20, "not aligned"),
], ids=["not-a-list", "over-the-limit", "over-the-limit-in-sum", "overlapping", "short-handle",
        "handle-not-hex", "negative-offset", "overlapping-strides", "wrong-size", "no-dtype",
        "no-value", "misaligned"])
def test_a_description_that_is_not_one_is_refused(described, limit, why):
    with pytest.raises(device_share.ShareError, match=why):
        device_share.checked_layout(described, limit)


def test_nothing_is_opened_off_a_gpu():
    with pytest.raises(device_share.ShareError, match="on cpu"), device_share.opened(
            [entry()], torch.device("cpu"), 1 << 20):
        pass
