"""How closely float fake quantization (what QAT trains with) follows the integer kernels, layer by layer.

Two int8 networks that differ by one rounding step somewhere drift apart downstream: a 1-LSB
change at a layer's input can move its output by several steps (a 1x1 expansion multiplies it by
the weights), and a trained network propagates those changes layer after layer. Comparing only the
final outputs therefore measures the network's sensitivity as much as the arithmetic. This module
measures the arithmetic: every quantized layer runs twice on the *same* inputs (the ones the
integer path gives it), once with the integer kernels and once with float fake quantization, and
the two int8 outputs are compared.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch
from torch import nn

from .convert import input_quant_of
from .fake_quant import qparams_of, quantized_input
from .lowering import _forward, _task
from .modules import QuantModule
from .ptq import set_integer_eval


@dataclass
class Agreement:
    """Int8 output elements of every quantized layer, integer kernels vs float fake quantization.

    Args:
        exact: Fraction of elements identical.
        within_one: Fraction within one quantization step.
        layers: Per layer: (name, exact fraction, within-one fraction, largest difference).
    """

    exact: float
    within_one: float
    layers: list[tuple[str, float, float, int]] = field(default_factory=list)

    def worst(self, n: int = 5) -> list[tuple[str, float, float, int]]:
        return sorted(self.layers, key=lambda r: (r[2], r[1]))[:n]


def _int8(t: torch.Tensor) -> torch.Tensor:
    qp = qparams_of(t)
    if qp is None:
        raise ValueError('layerwise_agreement: a layer output carries no quantization parameters')
    return torch.round(t / qp[0]) + qp[1]


@torch.no_grad()
def layerwise_agreement(model: nn.Module, q: torch.Tensor,
                        input_qparams: Optional[tuple[float, int]] = None) -> Agreement:
    """Compare every quantized layer's int8 output under both arithmetics, on the integer path's inputs.

    Args:
        model: A calibrated (PTQ) or QAT model: a detector, a classifier or a bare backbone.
        q: Int8 input values (NCHW, integer-valued tensor), what the MCU feeds.
        input_qparams: (scale, zero point) of the input; default the model's input quantizer.
    """
    if input_qparams is None:
        iq = input_quant_of(model)
        if iq is None:
            raise ValueError('layerwise_agreement: the model has no input quantizer; pass input_qparams')
        input_qparams = iq.qparams()
    task = _task(model)
    inputs: dict[str, tuple] = {}
    layers = {n: m for n, m in model.named_modules() if isinstance(m, QuantModule)}
    hooks = [m.register_forward_pre_hook(lambda m, i, n=n: inputs.__setitem__(n, i))
             for n, m in layers.items()]
    was_training = model.training
    model.eval()
    try:
        set_integer_eval(model, True)
        _forward(model, task, quantized_input(q, *input_qparams))
        for h in hooks:
            h.remove()
        hooks = []
        rows, total, exact, within = [], 0, 0, 0
        for name, m in layers.items():
            if name not in inputs:
                continue
            set_integer_eval(model, True)
            a = _int8(m(*inputs[name]))
            set_integer_eval(model, False)
            b = _int8(m(*inputs[name]))
            d = (a - b).abs()
            n, e, w = d.numel(), int((d == 0).sum()), int((d <= 1).sum())
            rows.append((name, e / n, w / n, int(d.max())))
            total, exact, within = total + n, exact + e, within + w
    finally:
        for h in hooks:
            h.remove()
        set_integer_eval(model, True)
        model.train(was_training)
    if total == 0:
        raise ValueError('layerwise_agreement: no quantized layer ran; prepare and calibrate the model first')
    return Agreement(exact / total, within / total, rows)


__all__ = ['Agreement', 'layerwise_agreement']
