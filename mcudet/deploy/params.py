"""Integer parameters of each op, computed once from the tensors' scales (``design/int8.md``).

These are exactly the numbers TFLite Micro computes in its Prepare step, and what the C
generator writes into flash: per-channel multipliers and shifts, offsets, clamp ranges.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from . import quant_math as qm
from .ops import normalize_axes

if TYPE_CHECKING:
    from .ir import Graph, Op


@dataclass(frozen=True)
class ConvParams:
    """CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED: acc = sum w * (x + input_offset) + bias."""

    input_offset: int  # -zp_in
    output_offset: int  # zp_out
    multiplier: np.ndarray  # int32 [channels]
    shift: np.ndarray  # int32 [channels], > 0 is a left shift
    act_min: int
    act_max: int


@dataclass(frozen=True)
class AddParams:
    input1_offset: int
    input2_offset: int
    output_offset: int
    mult: qm.AddMultipliers
    act_min: int
    act_max: int


@dataclass(frozen=True)
class MulParams:
    input1_offset: int
    input2_offset: int
    output_offset: int
    multiplier: int
    shift: int
    act_min: int
    act_max: int


@dataclass(frozen=True)
class PoolParams:
    act_min: int
    act_max: int


@dataclass(frozen=True)
class MeanParams:
    """MEAN: y = MBQM(sum q - zp_in * count, multiplier, shift) + zp_out (1/count folded in)."""

    input_zero_point: int
    output_zero_point: int
    count: int
    multiplier: int
    shift: int


@dataclass(frozen=True)
class QuantizeParams:
    """float32 -> int8 (``scale`` float32) or int8 -> int8 (``multiplier``/``shift`` set)."""

    scale: float
    zero_point: int
    input_zero_point: int = 0
    multiplier: Optional[int] = None
    shift: Optional[int] = None


@dataclass(frozen=True)
class DequantizeParams:
    scale: float
    zero_point: int


@dataclass(frozen=True)
class PadParams:
    pad_value: int  # the input zero point


def compute_params(graph: Graph, op: Op) -> Any:
    """The op's parameter object (None for pure data movement: reshape, transpose, concat, resize)."""
    ins = [graph.tensor(t) for t in op.inputs]
    out = graph.tensor(op.outputs[0])
    act = getattr(op.attrs, 'activation', 'none')
    if op.kind in ('conv2d', 'depthwise_conv2d', 'fully_connected'):
        x, w = ins[0], ins[1]
        channels = out.shape[-1]
        mult, shift = qm.conv_multipliers(x.scale, w.scales(channels), out.scale, channels)
        lo, hi = qm.activation_range(act, out.scale, out.zero_point)
        return ConvParams(-x.zero_point, out.zero_point, mult, shift, lo, hi)
    if op.kind == 'add':
        a, b = ins
        lo, hi = qm.activation_range(act, out.scale, out.zero_point)
        return AddParams(-a.zero_point, -b.zero_point, out.zero_point,
                         qm.add_multipliers(a.scale, b.scale, out.scale), lo, hi)
    if op.kind == 'mul':
        a, b = ins
        lo, hi = qm.activation_range(act, out.scale, out.zero_point)
        m, s = qm.mul_multiplier(a.scale, b.scale, out.scale)
        return MulParams(-a.zero_point, -b.zero_point, out.zero_point, m, s, lo, hi)
    if op.kind in ('average_pool2d', 'max_pool2d'):
        return PoolParams(*qm.activation_range(act, out.scale, out.zero_point))
    if op.kind == 'mean':
        x = ins[0]
        axes = normalize_axes(op.attrs.axes, len(x.shape))
        count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
        m, s = qm.mean_multiplier(x.scale, out.scale, count)
        return MeanParams(x.zero_point, out.zero_point, count, m, s)
    if op.kind == 'quantize':
        x = ins[0]
        if x.dtype == 'float32':
            return QuantizeParams(out.scale, out.zero_point)
        m, s = qm.quantize_multiplier(float(np.float32(x.scale)) / float(np.float32(out.scale)))
        return QuantizeParams(out.scale, out.zero_point, x.zero_point, m, s)
    if op.kind == 'dequantize':
        return DequantizeParams(ins[0].scale, ins[0].zero_point)
    if op.kind == 'pad':
        return PadParams(ins[0].zero_point)
    return None
