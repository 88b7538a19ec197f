"""Integer-exact evaluation: the int8 kernels of ``design/int8.md`` in torch, batched.

In eval mode a quantized module can compute its output exactly as the integer graph
does (int32 accumulators, TFLite's fixed-point requantization with its double rounding,
the ADD / MUL / MEAN rules) instead of rounding a float result. The accumulators come
from float64 convolutions of integer-valued tensors, which are exact (|acc| < 2^53), and
the multipliers from :mod:`mcudet.deploy.quant_math`, the functions the IR uses. So
``tools/test.py`` on a quantized model reports the accuracy of the deployed int8 network,
bit for bit; training keeps the float fake quantization and its straight-through
gradients.
"""
from __future__ import annotations

import numpy as np
import torch

from mcudet.deploy import quant_math as qm

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def wrap_int32(x: torch.Tensor) -> torch.Tensor:
    """Two's-complement wrap of int64 values to int32 (what C does), kept in int64."""
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def multiply_by_quantized_multiplier(x: torch.Tensor, mult: torch.Tensor, shift: torch.Tensor
                                     ) -> torch.Tensor:
    """TFLite ``MultiplyByQuantizedMultiplier`` (double rounding) on int64 tensors holding int32 values."""
    left = shift.clamp(min=0)
    right = (-shift).clamp(min=0)
    xs = wrap_int32(x << left)
    ab = xs * mult
    nudge = torch.where(ab >= 0, torch.full_like(ab, 1 << 30), torch.full_like(ab, 1 - (1 << 30)))
    v = ab + nudge
    high = torch.where(v >= 0, v >> 31, -((-v) >> 31))
    high = torch.where((xs == INT32_MIN) & (mult == INT32_MIN), torch.full_like(high, INT32_MAX), high)
    mask = (torch.ones_like(right) << right) - 1
    rem = high & mask
    threshold = (mask >> 1) + (high < 0).long()
    return (high >> right) + (rem > threshold).long()


def requantize(acc: torch.Tensor, mult: torch.Tensor, shift: torch.Tensor, zp: int, lo: int, hi: int
               ) -> torch.Tensor:
    """int32 accumulator -> int8 value (int64 tensor): MBQM, + zero point, clamp."""
    return (multiply_by_quantized_multiplier(wrap_int32(acc), mult, shift) + int(zp)).clamp(lo, hi)


def to_int(x: torch.Tensor, scale: torch.Tensor, zp: torch.Tensor) -> torch.Tensor:
    """The int8 values of a fake-quantized tensor (exact: it holds ``scale * (q - zp)``)."""
    return torch.round(x.detach() / scale).long() + zp.long()


def from_int(q: torch.Tensor, scale: float, zp: int, like: torch.Tensor) -> torch.Tensor:
    s = torch.tensor(scale, dtype=torch.float32, device=q.device)
    return ((q - zp).to(like.dtype)) * s


def channel_multipliers(s_in: float, s_w: np.ndarray, s_out: float, device, ndim: int
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel (multiplier, shift) of a conv / FC, shaped to broadcast over dim 1 of an N-d output."""
    mult, shift = qm.conv_multipliers(s_in, s_w, s_out, len(s_w))
    shape = (1, -1) + (1,) * (ndim - 2)
    return (torch.as_tensor(mult.astype(np.int64), device=device).reshape(shape),
            torch.as_tensor(shift.astype(np.int64), device=device).reshape(shape))


def scalar(v: int, like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(int(v), dtype=torch.int64, device=like.device)


def add(qa: torch.Tensor, zpa: int, sa: float, qb: torch.Tensor, zpb: int, sb: float, s_out: float,
        zp_out: int, lo: int = -128, hi: int = 127) -> torch.Tensor:
    """TFLite int8 ADD (inputs shifted left by 20, three multipliers)."""
    m = qm.add_multipliers(sa, sb, s_out)
    a = wrap_int32((qa - zpa) << m.left_shift)
    b = wrap_int32((qb - zpb) << m.left_shift)
    ra = multiply_by_quantized_multiplier(a, scalar(m.input1_multiplier, a), scalar(m.input1_shift, a))
    rb = multiply_by_quantized_multiplier(b, scalar(m.input2_multiplier, b), scalar(m.input2_shift, b))
    s = ra + rb
    return requantize(s, scalar(m.output_multiplier, s), scalar(m.output_shift, s), zp_out, lo, hi)


def mul(qa: torch.Tensor, zpa: int, sa: float, qb: torch.Tensor, zpb: int, sb: float, s_out: float,
        zp_out: int) -> torch.Tensor:
    """TFLite int8 MUL with broadcasting."""
    mult, shift = qm.mul_multiplier(sa, sb, s_out)
    prod = (qa - zpa) * (qb - zpb)
    return requantize(prod, scalar(mult, prod), scalar(shift, prod), zp_out, -128, 127)


def mean(q: torch.Tensor, dims: tuple[int, ...], keepdim: bool, zp_in: int, s_in: float, s_out: float,
         zp_out: int) -> torch.Tensor:
    """TFLite int8 MEAN: integer sum minus zp_in * n, 1/n folded into the multiplier."""
    n = int(np.prod([q.shape[d] for d in dims]))
    mult, shift = qm.mean_multiplier(s_in, s_out, n)
    total = q.sum(dim=dims, keepdim=keepdim) - zp_in * n
    return requantize(total, scalar(mult, total), scalar(shift, total), zp_out, -128, 127)


def requantize_int8(q: torch.Tensor, zp_in: int, s_in: float, s_out: float, zp_out: int) -> torch.Tensor:
    """int8 -> int8 QUANTIZE (a concatenation input brought to the output's scale)."""
    mult, shift = qm.quantize_multiplier(float(np.float32(s_in)) / float(np.float32(s_out)))
    x = q - zp_in
    return requantize(x, scalar(mult, x), scalar(shift, x), zp_out, -128, 127)
