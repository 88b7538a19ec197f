"""Fake quantization: int8 rounding simulated in float, with straight-through gradients.

Built on ``torch.fake_quantize_per_tensor_affine`` / ``torch.fake_quantize_per_channel_affine``
(their gradient is the straight-through estimator: 1 inside the int8 range, 0 outside),
not on ``torch.ao.quantization`` (deprecated in torch 2.13, see environment.md).

The numbers here are the numbers of the integer graph (``design/int8.md``):

* activations: per-tensor asymmetric int8 in [-128, 127] (:class:`ActQuant`);
* weights: per-output-channel symmetric int8 in [-127, 127], scale max|w| / 127
  (:func:`weight_scale`, :func:`fake_quant_weight`);
* biases: int32 with scale ``s_in * s_w[c]`` (:func:`fake_quant_bias`).

A fake-quantized activation carries its quantization with it: :func:`tag` stores
``(scale, zero_point)`` on the tensor, and the next layer reads it (:func:`qparams_of`)
to quantize its bias with the real input scale, as the int8 kernel will. The integer
graph is exported from the same functions (:mod:`mcudet.quantization.lowering`), so
the int8 weights and biases are the ones the fake-quant forward used, bit for bit.
"""
from __future__ import annotations

from typing import Optional, Union

import torch
from torch import nn

from .observers import QMAX, QMIN, WEIGHT_QMAX, build_observer, choose_qparams

_QPARAMS = '_mcudet_qparams'
INT32_LIMIT = 2 ** 31 - 1
_BIAS_HEADROOM = 2.0 ** 30  # a bias alone never needs more than 2^30 steps of s_in * s_w


def tag(t: torch.Tensor, scale: torch.Tensor, zero_point: torch.Tensor) -> torch.Tensor:
    """Record that ``t`` holds int8 values ``scale * (q - zero_point)``; returns ``t``."""
    setattr(t, _QPARAMS, (scale, zero_point))
    return t


def qparams_of(t: torch.Tensor) -> Optional[tuple[torch.Tensor, torch.Tensor]]:
    """``(scale, zero_point)`` tensors of a fake-quantized activation, or None for a float one."""
    return getattr(t, _QPARAMS, None)


def quantized_input(q: torch.Tensor, scale: float, zero_point: int) -> torch.Tensor:
    """The float tensor a quantized model sees for int8 input ``q`` (NCHW), tagged with its qparams.

    Use it to feed the fake-quant model exactly what the integer graph gets.
    """
    s = torch.tensor([scale], dtype=torch.float32)
    z = torch.tensor([zero_point], dtype=torch.int32)
    return tag((q.to(torch.float32) - float(zero_point)) * s, s, z)


def keep_missing_buffers(module: nn.Module, names: tuple[str, ...]) -> None:
    """Let a float checkpoint (without these buffers) load, also strictly: absent entries keep their
    current values. A checkpoint that has any of them must have all."""

    def hook(state_dict, prefix, *args, **kwargs) -> None:
        present = [n for n in names if prefix + n in state_dict]
        if present:
            return
        for n in names:
            state_dict[prefix + n] = getattr(module, n).detach().clone()

    module._register_load_state_dict_pre_hook(hook)


class ActQuant(nn.Module):
    """Per-tensor asymmetric int8 fake quantization of an activation, with its range observer.

    State (buffers, saved in checkpoints): the observer's range, the derived ``scale`` and
    ``zero_point``, and the switches ``enabled`` (fake-quantize) and ``observe`` (update
    the range). The range is updated only in training mode or while calibrating, so
    evaluating a QAT model does not move its quantization.

    Args:
        observer: Observer config (``'minmax'``, ``'ema'``, ``'percentile'`` or a dict);
            ignored when ``fixed`` is given.
        fixed: A fixed ``(scale, zero_point)`` (the squeeze-excite gate spans [0, 1]
            exactly with ``(1 / 255, -128)``).
    """

    def __init__(self, observer: Union[str, dict, None] = None,
                 fixed: Optional[tuple[float, int]] = None) -> None:
        super().__init__()
        self.observer = None if fixed is not None else build_observer(observer)
        scale, zp = fixed if fixed is not None else (1.0, 0)
        self.register_buffer('scale', torch.tensor([scale], dtype=torch.float32))
        self.register_buffer('zero_point', torch.tensor([zp], dtype=torch.int32))
        self.register_buffer('enabled', torch.tensor(False))
        self.register_buffer('observe', torch.tensor(fixed is None))
        self.calibrating = False
        keep_missing_buffers(self, ('scale', 'zero_point', 'enabled', 'observe'))
        if self.observer is not None:
            keep_missing_buffers(self.observer, ('min_val', 'max_val', 'num_batches'))

    @property
    def ready(self) -> bool:
        """True when the quantization parameters are known (fixed, or observed at least once)."""
        return self.observer is None or self.observer.initialized

    def refresh(self) -> None:
        """Recompute ``scale`` / ``zero_point`` from the observer's range."""
        if self.observer is None or not self.observer.initialized:
            return
        scale, zp = choose_qparams(*self.observer.range())
        self.scale.fill_(scale)
        self.zero_point.fill_(zp)

    def qparams(self) -> tuple[float, int]:
        return float(self.scale), int(self.zero_point)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.observer is not None and bool(self.observe) and (self.training or self.calibrating):
            self.observer.update(x)
            self.refresh()
        if not bool(self.enabled):
            return x
        if not self.ready:
            raise RuntimeError('ActQuant: fake quantization is on but the range was never observed; '
                               'calibrate first (mcudet.quantization.calibrate) or load a quantized '
                               'checkpoint')
        y = torch.fake_quantize_per_tensor_affine(x, self.scale, self.zero_point, QMIN, QMAX)
        return tag(y, self.scale, self.zero_point)

    def extra_repr(self) -> str:
        s, z = self.qparams()
        return f'scale={s:.6g}, zero_point={z}, enabled={bool(self.enabled)}, observe={bool(self.observe)}'


def weight_scale(w: torch.Tensor, bias: Optional[torch.Tensor] = None,
                 in_scale: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Per-output-channel symmetric scale ``max|w[c]| / 127`` (float32, dim 0).

    A channel whose weights are all (nearly) zero gets a scale large enough that its bias
    fits int32 with room to spare: its output is the bias alone, and a tiny scale would
    overflow the int32 bias and flush the requantization multiplier to zero.
    """
    w = w.detach()
    scale = w.abs().reshape(w.shape[0], -1).amax(dim=1).float() / WEIGHT_QMAX
    if bias is not None and in_scale is not None:
        scale = torch.maximum(scale, bias.detach().abs().float() / (in_scale.float() * _BIAS_HEADROOM))
    return scale.clamp_min(1e-12)


def fake_quant_weight(w: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Per-channel symmetric int8 fake quantization along dim 0 (straight-through gradient)."""
    zeros = torch.zeros(w.shape[0], dtype=torch.int32, device=w.device)
    return torch.fake_quantize_per_channel_affine(w, scale.to(w.device), zeros, 0, -WEIGHT_QMAX, WEIGHT_QMAX)


def int_weight(w_fq: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The int8 values of fake-quantized weights (exact: ``w_fq`` is a multiple of ``scale``)."""
    shape = (-1,) + (1,) * (w_fq.dim() - 1)
    return torch.round(w_fq.detach() / scale.reshape(shape)).to(torch.int8)


def bias_scale(in_scale: torch.Tensor, w_scale: torch.Tensor) -> torch.Tensor:
    """int32 bias scale ``s_in * s_w[c]`` (float32)."""
    return in_scale.float() * w_scale.float()


def int_bias(b: torch.Tensor, in_scale: torch.Tensor, w_scale: torch.Tensor) -> torch.Tensor:
    """The int32 bias: ``round(b / (s_in * s_w))``, saturated to int32."""
    q = torch.round(b.detach().float() / bias_scale(in_scale, w_scale))
    return q.clamp(-INT32_LIMIT, INT32_LIMIT).to(torch.int64)


def fake_quant_bias(b: torch.Tensor, in_scale: torch.Tensor, w_scale: torch.Tensor) -> torch.Tensor:
    """The bias rounded to int32 steps of ``s_in * s_w[c]`` (straight-through gradient)."""
    q = int_bias(b, in_scale, w_scale).float() * bias_scale(in_scale, w_scale)
    return b + (q - b).detach()
