"""MACs and parameters of a built PyTorch model, counted on a real forward pass."""
from __future__ import annotations

import torch
from torch import nn


def count_model_macs(model: nn.Module, input_shape: tuple[int, int, int, int]) -> int:
    """Multiply-accumulates of convolutions and linear layers for one forward of ``input_shape``.

    Batch norm, activations, pooling and adds are not counted (the convention of
    :mod:`mcudet.arch.counters`, which the tests hold this to). A detector is measured
    through ``extract_feat`` and its head's ``forward``: the integer part an MCU runs.
    """
    total = 0

    def conv_hook(mod: nn.Conv2d, inputs, output) -> None:
        nonlocal total
        k = mod.kernel_size[0] * mod.kernel_size[1]
        total += output.numel() // output.shape[0] * (mod.in_channels // mod.groups) * k

    def linear_hook(mod: nn.Linear, inputs, output) -> None:
        nonlocal total
        total += output.numel() // output.shape[0] * mod.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            x = torch.zeros(input_shape)
            if hasattr(model, 'extract_feat') and hasattr(model, 'bbox_head'):
                model.bbox_head(model.extract_feat(x))
            elif hasattr(model, 'extract_feat'):
                model.extract_feat(x)
            else:
                model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total


def count_model_params(model: nn.Module) -> int:
    """Trainable and frozen parameters (batch norm not folded)."""
    return sum(p.numel() for p in model.parameters())
