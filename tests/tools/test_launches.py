"""Launch descriptions: what a run records, and the stand-ins rebuilt from it."""

from __future__ import annotations

import json

import pytest

from kernel_agent.tools import launches

torch = pytest.importorskip("torch")
tl = pytest.importorskip("triton.language")


def test_tensors_keep_dtype_and_alignment() -> None:
    base = torch.empty(64, dtype=torch.float16)
    for view in (base, base[1:], base[8:]):
        rebuilt = launches.rebuild(launches.describe(view), {})
        assert rebuilt.dtype == torch.float16
        assert rebuilt.data_ptr() % 16 == view.data_ptr() % 16


def test_other_arguments_round_trip() -> None:
    values = {"n": 6144, "scale": 0.5, "flag": True, "none": None,
              "pair": (3, torch.empty(4, dtype=torch.int32)),
              "BLOCK": tl.constexpr(128), "DTYPE": tl.float16, "torch_dtype": torch.bfloat16}
    rebuilt = {k: launches.rebuild(launches.describe(v), {}) for k, v in values.items()}
    assert rebuilt["n"] == 6144 and rebuilt["scale"] == 0.5 and rebuilt["flag"] is True
    assert rebuilt["none"] is None and rebuilt["pair"][0] == 3
    assert rebuilt["pair"][1].dtype == torch.int32
    assert rebuilt["BLOCK"].value == 128 and rebuilt["DTYPE"] == tl.float16
    assert rebuilt["torch_dtype"] is torch.bfloat16
    json.dumps({k: launches.describe(v) for k, v in values.items()})


def test_triton_tensor_descriptors_and_jit_functions_are_rebuilt() -> None:
    from triton.tools.tensor_descriptor import TensorDescriptor

    desc = TensorDescriptor.from_tensor(torch.empty(64, 64, dtype=torch.float16), [32, 32])
    rebuilt = launches.rebuild(launches.describe(desc), {})
    assert isinstance(rebuilt, TensorDescriptor)
    assert list(rebuilt.block_shape) == [32, 32] and rebuilt.base.dtype == torch.float16
    marker = object()
    assert launches.rebuild({"jit": "helper"}, {"helper": marker}) is marker
    with pytest.raises(launches.UnsupportedArgument):
        launches.rebuild(launches.describe(object()), {})
