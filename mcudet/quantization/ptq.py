"""Post-training quantization (calibration) and the switches of a prepared model.

PTQ: :func:`quantize_model` = :func:`~mcudet.quantization.convert.prepare_model` +
:func:`calibrate`: run N batches through the float model (fake quantization off) while
every observer records its activation's range, then freeze the ranges and switch fake
quantization on. No training. QAT (:mod:`mcudet.quantization.hooks`) starts from the same
calibration and keeps the observers running while it trains.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Optional

import torch
from torch import nn
from tqdm import tqdm

from .convert import ObserverCfg, act_quants, prepare_model
from .modules import QConvBNAct, QuantModule

ForwardFn = Callable[[nn.Module, Any], Any]


def enable_fake_quant(model: nn.Module, enabled: bool = True) -> None:
    """Switch int8 simulation (weights, biases, activations) on or off everywhere."""
    for q in act_quants(model):
        q.enabled.fill_(enabled)


def enable_observers(model: nn.Module, enabled: bool = True) -> None:
    """Let the activation ranges follow the data (training / calibration) or freeze them."""
    for q in act_quants(model):
        if q.observer is not None:
            q.observe.fill_(enabled)


def freeze_bn(model: nn.Module, frozen: bool = True) -> int:
    """Fold batch norm with its running statistics from now on (QAT's last phase); returns the count."""
    n = 0
    for m in model.modules():
        if isinstance(m, QConvBNAct) and m.bn_layer is not None:
            m.bn_frozen.fill_(frozen)
            n += 1
    return n


def set_integer_eval(model: nn.Module, enabled: bool = True) -> None:
    """Evaluate with the integer kernels (bit-exact with the IR; the default) or with float fake
    quantization (the arithmetic QAT trains with)."""
    for m in model.modules():
        if isinstance(m, QuantModule):
            m.integer_eval = enabled


def is_calibrated(model: nn.Module) -> bool:
    """True when fake quantization is on and every activation range is known."""
    qs = act_quants(model)
    return bool(qs) and all(bool(q.enabled) and q.ready for q in qs)


def default_forward(model: nn.Module, batch: Any) -> Any:
    """One forward pass for a batch of an mmengine data loader (or a plain tensor)."""
    if isinstance(batch, torch.Tensor):
        return model(batch)
    pre = getattr(model, 'data_preprocessor', None)
    if pre is None:
        raise TypeError('calibrate: the model has no data_preprocessor; pass forward=... or tensor batches')
    data = pre(batch, False)
    return model(**data, mode='tensor')


@torch.no_grad()
def calibrate(model: nn.Module, data: Iterable, num_batches: int = 32, forward: Optional[ForwardFn] = None,
              progress: bool = True, desc: str = 'PTQ calibration') -> int:
    """Record activation ranges on ``num_batches`` batches of ``data``, then switch int8 simulation on.

    The model runs in eval mode (batch norm with running statistics) without fake
    quantization, so every observer sees the float network's activations. Afterwards
    the ranges are frozen (observers off) and fake quantization is on. Returns the
    number of batches used.

    Args:
        model: A model prepared with :func:`~mcudet.quantization.convert.prepare_model`.
        data: A data loader (mmengine batches) or any iterable of batches.
        num_batches: Batches to observe (fewer if ``data`` runs out).
        forward: ``forward(model, batch)``; default :func:`default_forward`.
        progress: Show a tqdm progress bar.
    """
    if num_batches < 1:
        raise ValueError(f'calibrate: num_batches={num_batches}; use at least 1')
    quants = act_quants(model)
    if not quants:
        raise ValueError('calibrate: the model has no quantizers; call prepare_model(model) first')
    forward = forward or default_forward
    was_training = model.training
    model.eval()
    for q in quants:
        q.enabled.fill_(False)
        q.calibrating = True
    enable_observers(model, True)
    used = 0
    try:
        with tqdm(total=num_batches, desc=desc, unit='batch', disable=not progress, leave=False) as bar:
            for batch in data:
                forward(model, batch)
                used += 1
                bar.update()
                if used >= num_batches:
                    break
    finally:
        for q in quants:
            q.calibrating = False
        model.train(was_training)
    if used == 0:
        raise ValueError('calibrate: the data yielded no batch')
    missing = [q for q in quants if not q.ready]
    if missing:
        raise RuntimeError(f'calibrate: {len(missing)} quantizers saw no data (layers the forward pass never '
                           'ran); check the forward function')
    enable_observers(model, False)
    enable_fake_quant(model, True)
    return used


def quantize_model(model: nn.Module, data: Iterable, num_batches: int = 32, observer: ObserverCfg = 'minmax',
                   forward: Optional[ForwardFn] = None, progress: bool = True) -> nn.Module:
    """Post-training quantization in one call: prepare ``model`` in place and calibrate it."""
    prepare_model(model, observer)
    calibrate(model, data, num_batches, forward, progress)
    return model
