"""Random integer graphs: one op with random shapes and quantization (kernel tests), or a
whole network from an :class:`~mcudet.arch.spec.ArchSpec` with random weights (patch and
C-runtime tests). Deterministic for a given NumPy generator; no training code.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Optional

import numpy as np

from mcudet.arch.graph import build_units
from mcudet.arch.spec import ArchSpec

from .builder import GraphBuilder
from .ir import Graph
from .ops import (
    Add,
    Concat,
    Mean,
    Mul,
    Pad,
    Padding,
    Pool2D,
    Quantize,
    Reshape,
    ResizeNearest,
    Transpose,
    out_size,
)

OP_CASE_KINDS = ('conv2d', 'depthwise_conv2d', 'fully_connected', 'add', 'mul', 'average_pool2d',
                 'max_pool2d', 'mean', 'pad', 'resize_nearest', 'concat', 'reshape', 'transpose',
                 'quantize', 'requantize', 'dequantize')


def _scale(rng: np.random.Generator, lo: float = -2.5, hi: float = 0.0) -> float:
    return float(np.float32(10 ** rng.uniform(lo, hi)))


def _zp(rng: np.random.Generator) -> int:
    return int(rng.choice([-128, 0, int(rng.integers(-128, 128))]))


def _int8(rng: np.random.Generator, shape: Sequence[int]) -> np.ndarray:
    return rng.integers(-128, 128, size=tuple(shape)).astype(np.int8)


def _act(rng: np.random.Generator) -> str:
    return str(rng.choice(['none', 'relu', 'relu6']))


def _out_zp(rng: np.random.Generator, activation: str) -> int:
    """Realistic output zero points: near 0 without activation, mostly -128 after a ReLU."""
    if activation == 'none':
        return int(rng.integers(-30, 31))
    return -128 if rng.random() < 0.7 else int(rng.integers(-128, 20))


def _conv_out_scale(rng: np.random.Generator, s_in: float, w_scale: np.ndarray, taps: int) -> float:
    """An output scale that keeps the requantized values mostly inside int8 without crushing them."""
    real_std = s_in * float(np.mean(w_scale)) * 74.0 * 73.0 * np.sqrt(taps)
    return float(np.float32(real_std / 40.0 * 10 ** rng.uniform(-0.7, 0.7)))


def _padding(rng: np.random.Generator, hw, kernel, stride, dilation) -> Padding:
    choice = rng.integers(4)
    if choice == 0:
        return Padding.symmetric(kernel, dilation)
    if choice == 1:
        return Padding.same(hw, kernel, stride, dilation)
    if choice == 2:
        return Padding()
    p = [int(rng.integers(0, (k - 1) * d + 1)) for k, d in zip(kernel, dilation) for _ in range(2)]
    return Padding(*p)


def _window_geometry(rng: np.random.Generator, max_hw: int = 12, max_k: int = 5, dilate: bool = True):
    while True:
        hw = (int(rng.integers(1, max_hw + 1)), int(rng.integers(1, max_hw + 1)))
        k = int(rng.choice([1, 2, 3, 5, max_k]))
        kernel = (k, k) if rng.random() < 0.8 else (k, int(rng.choice([1, 3])))
        stride = (int(rng.choice([1, 2, 3])),) * 2 if rng.random() < 0.8 else (1, 2)
        dilation = (2, 2) if dilate and rng.random() < 0.15 else (1, 1)
        padding = _padding(rng, hw, kernel, stride, dilation)
        out = [out_size(hw[a], kernel[a], stride[a], dilation[a], *padding.axis(a)) for a in (0, 1)]
        if min(out) >= 1:
            return hw, kernel, stride, dilation, padding


def random_op_graph(kind: str, rng: np.random.Generator) -> tuple[Graph, list[np.ndarray]]:
    """A finalized one-op graph of ``kind`` (see :data:`OP_CASE_KINDS`) and a random input for it."""
    b = GraphBuilder(f'random_{kind}')
    s_in, zp_in = _scale(rng), _zp(rng)
    s_out, zp_out = _scale(rng), _zp(rng)
    if kind in ('conv2d', 'depthwise_conv2d', 'fully_connected'):
        # One case in three uses small values and a multiplier in [1/16, 1]: that is where
        # double and single rounding differ, so those cases pin the rounding down.
        fine = rng.random() < 0.3
        wmax = 4 if fine else 127
        if kind == 'fully_connected':
            ci = co = 0
            k, co = int(rng.integers(1, 65)), int(rng.integers(1, 17))
            shape = (1, k) if rng.random() < 0.7 else (1, 1, 1, k)
            w = rng.integers(-wmax, wmax + 1, size=(co, k)).astype(np.int8)
            taps = k
        else:
            hw, kernel, stride, dilation, padding = _window_geometry(rng)
            ci = int(rng.integers(1, 9))
            shape = (1, *hw, ci)
            if kind == 'conv2d':
                co = int(rng.integers(1, 9))
                w = rng.integers(-wmax, wmax + 1, size=(co, *kernel, ci)).astype(np.int8)
                taps = kernel[0] * kernel[1] * ci
            else:
                co = ci * int(rng.choice([1, 1, 2]))
                w = rng.integers(-wmax, wmax + 1, size=(1, *kernel, co)).astype(np.int8)
                taps = kernel[0] * kernel[1]
        x = b.input('x', shape, s_in, zp_in)
        if fine:
            w_scale = (10 ** rng.uniform(-3, -1) * rng.uniform(1, 1.1, size=co)).astype(np.float32)
            out_scale = float(np.float32(s_in * float(np.mean(w_scale)) * 2 ** rng.uniform(0, 4)))
            bias = rng.integers(-50, 51, size=co).astype(np.int32)
            inputs = [np.clip(zp_in + rng.integers(-6, 7, size=shape), -128, 127).astype(np.int8)]
        else:
            w_scale = (10 ** rng.uniform(-3, -1, size=co)).astype(np.float32)
            out_scale = _conv_out_scale(rng, s_in, w_scale, taps)
            bias = rng.integers(-20000, 20000, size=co).astype(np.int32)
            inputs = [_int8(rng, shape)]
        if rng.random() < 0.2 or kind == 'fully_connected' and rng.random() < 0.7:
            w_scale = float(w_scale[0])  # per-tensor weights
        if rng.random() < 0.1:
            bias = None
        act = _act(rng)
        if kind == 'fully_connected':
            y = b.fully_connected('op', x, w, bias, w_scale, out_scale, _out_zp(rng, act), act)
        else:
            fn = b.conv2d if kind == 'conv2d' else b.depthwise_conv2d
            y = fn('op', x, w, bias, w_scale, out_scale, _out_zp(rng, act), stride, padding, dilation, act)
    elif kind in ('add', 'mul'):
        shape = (1, int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(1, 9)))
        shape2 = shape if kind == 'add' or rng.random() < 0.3 else (1, 1, 1, shape[3])
        s2, zp2 = _scale(rng), _zp(rng)
        if kind == 'mul':
            s_out = s_in * s2 * 128 * 10 ** rng.uniform(-0.5, 1.0)
        else:
            s_out = (s_in + s2) * 128 / 100 * 10 ** rng.uniform(-0.3, 0.5)
        a = b.input('a', shape, s_in, zp_in)
        c = b.input('b', shape2, s2, zp2)
        act = _act(rng)
        attrs = Add(act) if kind == 'add' else Mul(act)
        y = b.op(kind, 'op', [a, c], attrs, float(np.float32(s_out)), _out_zp(rng, act))
        inputs = [_int8(rng, shape), _int8(rng, shape2)]
    elif kind in ('average_pool2d', 'max_pool2d'):
        while True:
            hw = (int(rng.integers(1, 13)), int(rng.integers(1, 13)))
            kernel = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
            stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
            padding = Padding.same(hw, kernel, stride) if rng.random() < 0.5 else Padding()
            if min(out_size(hw[a], kernel[a], stride[a], 1, *padding.axis(a)) for a in (0, 1)) >= 1:
                break
        c = int(rng.integers(1, 9))
        x = b.input('x', (1, *hw, c), s_in, zp_in)
        y = b.op(kind, 'op', [x], Pool2D(kernel, stride, padding, _act(rng)), s_in, zp_in)
        inputs = [_int8(rng, (1, *hw, c))]
    elif kind == 'mean':
        shape = (1, int(rng.integers(1, 12)), int(rng.integers(1, 12)), int(rng.integers(1, 9)))
        axes = [(1, 2), (1, 2), (1,), (2,), (3,), (2, 1)][int(rng.integers(6))]
        if rng.random() < 0.4:
            s_out, zp_out = s_in, zp_in
        x = b.input('x', shape, s_in, zp_in)
        y = b.op('mean', 'op', [x], Mean(axes, bool(rng.random() < 0.5)), s_out, zp_out)
        inputs = [_int8(rng, shape)]
    elif kind in ('pad', 'resize_nearest', 'reshape', 'transpose'):
        shape = (1, int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(1, 6)))
        x = b.input('x', shape, s_in, zp_in)
        out_shape = None
        if kind == 'pad':
            spatial = tuple((int(rng.integers(0, 4)), int(rng.integers(0, 4))) for _ in range(2))
            channels = (0, int(rng.integers(0, 3))) if rng.random() < 0.3 else (0, 0)
            attrs = Pad(((0, 0),) + spatial + (channels,))
        elif kind == 'resize_nearest':
            flags = [(False, False), (True, False), (False, True)][int(rng.integers(3))]
            attrs = ResizeNearest((int(rng.integers(1, 17)), int(rng.integers(1, 17))), *flags)
        elif kind == 'reshape':
            attrs = Reshape()
            out_shape = [(1, int(np.prod(shape))), (1, shape[1], shape[2] * shape[3])][int(rng.integers(2))]
        else:
            attrs = Transpose(tuple(int(p) for p in rng.permutation(4)))
        y = b.op(kind, 'op', [x], attrs, s_in, zp_in, out_shape=out_shape)
        inputs = [_int8(rng, shape)]
    elif kind == 'concat':
        axis = int(rng.choice([1, 2, 3, -1]))
        n = int(rng.integers(2, 4))
        base = [1, int(rng.integers(1, 7)), int(rng.integers(1, 7)), int(rng.integers(1, 6))]
        names, inputs = [], []
        for i in range(n):
            shape = list(base)
            shape[axis] = int(rng.integers(1, 6))
            names.append(b.input(f'x{i}', shape, s_in, zp_in))
            inputs.append(_int8(rng, shape))
        y = b.op('concat', 'op', names, Concat(axis), s_in, zp_in)
    elif kind in ('quantize', 'requantize'):
        shape = (1, int(rng.integers(1, 9)), int(rng.integers(1, 9)), int(rng.integers(1, 6)))
        if kind == 'quantize':
            x = b.input('x', shape, dtype='float32')
            inputs = [(rng.standard_normal(shape) * s_out * 60).astype(np.float32)]
            ties = (np.round(inputs[0] / np.float32(s_out)) + 0.5).astype(np.float32) * np.float32(s_out)
            inputs[0] = np.where(rng.random(shape) < 0.2, ties, inputs[0]).astype(np.float32)
        else:
            x = b.input('x', shape, s_in, zp_in)
            s_out = float(np.float32(s_in * 10 ** rng.uniform(-1, 1)))
            inputs = [_int8(rng, shape)]
        y = b.op('quantize', 'op', [x], Quantize(), s_out, zp_out)
    elif kind == 'dequantize':
        from .ops import Dequantize

        shape = (1, int(rng.integers(1, 9)), int(rng.integers(1, 6)))
        x = b.input('x', shape, s_in, zp_in)
        y = b.op('dequantize', 'op', [x], Dequantize(), out_dtype='float32')
        inputs = [_int8(rng, shape)]
    else:
        raise ValueError(f'no random case for {kind!r}; choose from {OP_CASE_KINDS}')
    b.output(y)
    return b.build(), inputs


# ---------------------------------------------------------------------- whole networks
def lower_se(b: GraphBuilder, x: str, name: str, hidden: int, rng: np.random.Generator,
             group: str = '') -> str:
    """Squeeze-excite with hardsigmoid gate in int8, from IR ops only (random weights).

    MEAN over H, W (keep dims) -> 1x1 conv + ReLU -> 1x1 conv with hardsigmoid folded in
    (weights / 6, bias + 3 / 6, output scale 1/255, zero point -128: int8 spans [0, 1]) ->
    MUL of the map by the [1, 1, 1, C] gate (TFLite broadcast MUL).
    """
    t = b.graph.tensor(x)
    c = t.shape[3]
    pooled = b.op('mean', f'{name}.pool', [x], Mean((1, 2), keep_dims=True), t.scale, t.zero_point,
                  group=group)
    s_h = float(np.float32(t.scale * 2))
    w1 = rng.integers(-127, 128, size=(hidden, 1, 1, c)).astype(np.int8)
    s_w1 = np.full(hidden, 120.0 / (74.0 * 73.0 * np.sqrt(c)), np.float32)
    h = b.conv2d(f'{name}.reduce', pooled, w1, rng.integers(0, 3000, size=hidden).astype(np.int32), s_w1, s_h,
                 -128, activation='relu', group=group)
    w2 = rng.integers(-127, 128, size=(c, 1, 1, hidden)).astype(np.int8)
    s_w2 = np.full(c, 3.0 / (127 * 73.0 * np.sqrt(hidden) * s_h), np.float32)  # z = conv(h) in about [-3, 3]
    acc_scale = np.float64(np.float32(s_h)) * (s_w2.astype(np.float64) / 6)
    bias = np.round(0.5 / acc_scale).astype(np.int32)  # hardsigmoid(z) = z / 6 + 0.5, clamped by int8
    gate = b.conv2d(f'{name}.expand', h, w2, bias, (s_w2 / 6).astype(np.float32), 1 / 255, -128,
                    activation='relu', group=group)
    return b.op('mul', f'{name}.scale', [x, gate], Mul(), t.scale, t.zero_point, group=group)


def graph_from_spec(spec: ArchSpec, input_hw: Optional[tuple[int, int]] = None, seed: int = 0,
                    float_input: bool = False) -> Graph:
    """The units of ``spec`` (no classifier) as an integer graph with random weights.

    Op names are the layer names of :func:`mcudet.arch.graph.build_units` and each op's
    ``group`` is its unit name, so a patch plan traced from this graph equals
    ``make_patch_plan(spec, ...)``. Padding is PyTorch's symmetric ``k // 2``.
    Squeeze-excite is lowered as the quantizer will lower it (:func:`lower_se`).
    """
    rng = np.random.default_rng(seed)
    units = build_units(spec, input_hw)
    hw = units[0].in_hw
    b = GraphBuilder(spec.name)
    s_in, zp_in = 1 / 127.5, -1
    if float_input:
        f = b.input('image', (1, *hw, spec.in_channels), dtype='float32')
        x = b.op('quantize', 'quantize', [f], Quantize(), s_in, zp_in)
    else:
        x = b.input('image', (1, *hw, spec.in_channels), s_in, zp_in)
    for unit in units:
        unit_in, unit_in_scale = x, b.graph.tensor(x).scale
        for ly in unit.layers:
            if ly.kind == 'se':
                x = lower_se(b, x, ly.name, ly.se_channels, rng, unit.name)
                continue
            k = ly.kernel_size
            taps = k * k * (1 if ly.kind == 'dw' else ly.in_channels)
            # Keep the scales level from layer to layer (random int8 maps stay O(40) levels wide).
            jitter = 10 ** rng.uniform(-0.2, 0.2, size=ly.out_channels)
            w_scale = (120.0 / (74.0 * 73.0 * np.sqrt(taps)) * jitter).astype(np.float32)
            s_x = b.graph.tensor(x).scale
            out_scale = float(np.float32(s_x * 10 ** rng.uniform(-0.3, 0.3)))
            act = {'relu': 'relu', 'relu6': 'relu6'}.get(ly.act or '', 'none')
            zp = -128 if act != 'none' else int(rng.integers(-20, 20))
            bias = rng.integers(-3000, 3000, size=ly.out_channels).astype(np.int32)
            stride = (ly.stride, ly.stride)
            if ly.kind == 'dw':
                w = rng.integers(-127, 128, size=(1, k, k, ly.out_channels)).astype(np.int8)
                x = b.depthwise_conv2d(ly.name, x, w, bias, w_scale, out_scale, zp, stride, activation=act,
                                       group=unit.name)
            else:
                w = rng.integers(-127, 128, size=(ly.out_channels, k, k, ly.in_channels)).astype(np.int8)
                x = b.conv2d(ly.name, x, w, bias, w_scale, out_scale, zp, stride, activation=act,
                             group=unit.name)
        if unit.residual:
            out_scale = float(np.float32(max(unit_in_scale, b.graph.tensor(x).scale) * 1.5))
            x = b.op('add', f'{unit.name}.add', [x, unit_in], Add(), out_scale, int(rng.integers(-10, 10)),
                     group=unit.name)
    b.output(x)
    return b.build()
