import torch


def get_inputs():
    return [torch.randn(10)]


def get_init_inputs():
    return []
