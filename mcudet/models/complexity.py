"""MACs and parameters of a built PyTorch model, counted on a real forward pass."""
from __future__ import annotations

import torch
from torch import nn


def count_model_macs(model: nn.Module, input_shape: tuple[int, int, int, int]) -> int:
    """Multiply-accumulates of convolutions and linear layers for one forward of ``input_shape``.

    Batch norm, activations, pooling and adds are not counted (the convention of
    :mod:`mcudet.arch.counters`, which the tests hold this to). A detector or classifier is
    measured through ``extract_feat`` and its head's ``forward``: the integer part an MCU
    runs. The count runs on a copy in train mode, where a ``PatchBasedBackbone`` runs its
    wrapped backbone per layer: per-layer MACs (the patch overhead is the memory model's).
    """
    import copy
    model = copy.deepcopy(model)
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
    model.train()
    try:
        with torch.no_grad():
            x = torch.zeros(input_shape)
            head = getattr(model, 'bbox_head', None) or getattr(model, 'head', None)
            if hasattr(model, 'extract_feat') and head is not None:
                head(model.extract_feat(x))
            elif hasattr(model, 'extract_feat'):
                model.extract_feat(x)
            else:
                model(x)
    finally:
        for h in handles:
            h.remove()
    return total


def count_model_params(model: nn.Module) -> int:
    """Trainable and frozen parameters (batch norm not folded)."""
    return sum(p.numel() for p in model.parameters())
