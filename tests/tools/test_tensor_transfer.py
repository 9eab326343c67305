"""Tensors through a memfd: values, dtypes and layouts arrive as sent; a description that does
not fit its bytes is refused, whoever sent it."""

from __future__ import annotations

import os

import pytest
import torch

from kernel_agent.tools.tensor_transfer import TransferError, pack, unpack


def round_trip(values):
    described, fd = pack(values)
    try:
        return described, unpack(described, fd, "cpu")
    finally:
        os.close(fd)


def test_values_dtypes_and_layouts_arrive_as_sent():
    base = torch.randn(6, 4)
    values = [base.to(torch.bfloat16), torch.arange(5) > 2, torch.tensor(3.5),
              torch.empty(0, 3, dtype=torch.int64), base.t(), base.expand(2, 6, 4)[1],
              base[:, ::2], 7, 0.25, None, "mean"]
    _, out = round_trip(values)
    for sent, got in zip(values, out, strict=True):
        if isinstance(sent, torch.Tensor):
            assert got.dtype == sent.dtype and got.shape == sent.shape
            assert torch.equal(got, sent)
        else:
            assert got == sent
    assert out[4].stride() == base.t().stride()  # a transposed input stays transposed
    assert out[6].is_contiguous()  # a strided slice is not dense: it arrives contiguous


def test_what_arrives_is_a_copy_the_sender_cannot_change():
    described, fd = pack([torch.ones(4)])
    got = unpack(described, fd, "cpu")[0]
    os.pwrite(fd, torch.zeros(4).numpy().tobytes(), 0)
    os.close(fd)
    assert torch.equal(got, torch.ones(4))


def test_an_input_that_cannot_be_sent_is_said_so():
    with pytest.raises(TransferError, match="object"):
        pack([object()])


@pytest.mark.parametrize("change", [
    {"dtype": "load"}, {"dtype": "no_such_dtype"}, {"nbytes": 12}, {"offset": 64},
    {"shape": [-1, 4]}, {"shape": "four"},
])
def test_a_description_that_does_not_fit_its_bytes_is_refused(change):
    described, fd = pack([torch.ones(2, 4)])
    described[0]["tensor"].update(change)
    with pytest.raises(TransferError):
        unpack(described, fd, "cpu")
    os.close(fd)


@pytest.mark.parametrize("described", ["not a list", [{"tensor": None}], [{"value": [1, 2]}],
                                       [{"something": 1}]])
def test_entries_that_describe_no_value_are_refused(described):
    _, fd = pack([])
    with pytest.raises(TransferError):
        unpack(described, fd, "cpu")
    os.close(fd)
