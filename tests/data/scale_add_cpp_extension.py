"""y = 2 * x + b as a C++ extension built with load_inline: a candidate whose build takes tens of
seconds, so a second check of the same source shows whether the build was kept."""

import torch
from torch import nn
from torch.utils.cpp_extension import load_inline

CPP_SOURCE = """
#include <torch/extension.h>

torch::Tensor scale_add(torch::Tensor x, torch::Tensor b) {
    auto out = torch::empty_like(x);
    auto xs = x.contiguous(), bs = b.contiguous();
    const float* xp = xs.data_ptr<float>();
    const float* bp = bs.data_ptr<float>();
    float* op = out.data_ptr<float>();
    for (int64_t i = 0; i < x.numel(); ++i) op[i] = 2.0f * xp[i] + bp[i];
    return out;
}
"""

extension = load_inline(name="scale_add_cpp", cpp_sources=CPP_SOURCE, functions=["scale_add"])


class ModelNew(nn.Module):
    def forward(self, x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return extension.scale_add(x, b)
