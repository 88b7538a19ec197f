"""The NumPy reference executor: the specification the C runtime and TFLite Micro must match bit for bit.

One slow, obviously correct function per op, written straight from ``design/int8.md``
(the TFLite reference kernels). Accumulators are int64 wrapped to int32, as C computes.
2-D ops take explicit ``pads`` (top, bottom, left, right): taps there are outside the
image and are skipped, so the patch executor can run any window of a map with the
same function (:mod:`mcudet.deploy.patch_exec`).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Optional, Union

import numpy as np

from . import quant_math as qm
from .ir import DTYPES, Graph, GraphError, Op
from .ops import normalize_axes
from .params import AddParams, ConvParams, MeanParams, MulParams, PoolParams, QuantizeParams

Pads = tuple[int, int, int, int]


# ---------------------------------------------------------------------- window helpers
def _taps(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
          pads: Pads, fill: int):
    """Yield (ky, kx, view) where view[:, oy, ox, :] is input tap (ky, kx) of output (oy, ox).

    ``x`` (int64, NHWC) is padded with ``fill`` first; the caller chooses a fill that
    contributes nothing (0 after subtracting the zero point, or a sentinel for max).
    """
    top, bottom, left, right = pads
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=fill)
    oh = (xp.shape[1] - ((kernel[0] - 1) * dilation[0] + 1)) // stride[0] + 1
    ow = (xp.shape[2] - ((kernel[1] - 1) * dilation[1] + 1)) // stride[1] + 1
    for ky in range(kernel[0]):
        for kx in range(kernel[1]):
            y0, x0 = ky * dilation[0], kx * dilation[1]
            rows = slice(y0, y0 + stride[0] * (oh - 1) + 1, stride[0])
            cols = slice(x0, x0 + stride[1] * (ow - 1) + 1, stride[1])
            yield ky, kx, xp[:, rows, cols, :]


# ---------------------------------------------------------------------- ops
def conv2d(x: np.ndarray, w: np.ndarray, bias: Optional[np.ndarray], stride, dilation, pads: Pads,
           p: ConvParams) -> np.ndarray:
    """CONV_2D: acc[c] = sum w[c] * (x - zp_in) + bias[c] over in-image taps; requantize per channel."""
    xs = x.astype(np.int64) + p.input_offset
    acc = 0
    for ky, kx, tap in _taps(xs, w.shape[1:3], stride, dilation, pads, 0):
        acc = acc + np.tensordot(tap, w[:, ky, kx, :].astype(np.int64), axes=([3], [1]))
    if bias is not None:
        acc = acc + bias.astype(np.int64)
    return qm.requantize(qm.wrap_int32(acc), p.multiplier, p.shift, p.output_offset, p.act_min, p.act_max)


def depthwise_conv2d(x: np.ndarray, w: np.ndarray, bias: Optional[np.ndarray], stride, dilation,
                     pads: Pads, depth_multiplier: int, p: ConvParams) -> np.ndarray:
    """DEPTHWISE_CONV_2D: output channel c reads input channel c // depth_multiplier."""
    xs = np.repeat(x.astype(np.int64) + p.input_offset, depth_multiplier, axis=3)
    acc = 0
    for ky, kx, tap in _taps(xs, w.shape[1:3], stride, dilation, pads, 0):
        acc = acc + tap * w[0, ky, kx, :].astype(np.int64)
    if bias is not None:
        acc = acc + bias.astype(np.int64)
    return qm.requantize(qm.wrap_int32(acc), p.multiplier, p.shift, p.output_offset, p.act_min, p.act_max)


def _trunc_div(a: np.ndarray, n: np.ndarray) -> np.ndarray:
    """C integer division (truncation toward zero) for n > 0."""
    return np.sign(a) * (np.abs(a) // n)


def average_pool2d(x: np.ndarray, kernel, stride, pads: Pads, p: PoolParams) -> np.ndarray:
    """AVERAGE_POOL_2D: raw sum over in-image taps, (acc +- n/2) / n truncating, clamp."""
    acc, count = 0, 0
    ones = np.ones(x.shape[:3] + (1,), dtype=np.int64)
    for (_, _, tap), (_, _, valid) in zip(_taps(x.astype(np.int64), kernel, stride, (1, 1), pads, 0),
                                          _taps(ones, kernel, stride, (1, 1), pads, 0)):
        acc, count = acc + tap, count + valid
    acc = np.where(acc > 0, _trunc_div(acc + count // 2, count), _trunc_div(acc - count // 2, count))
    return np.clip(acc, p.act_min, p.act_max).astype(np.int8)


def max_pool2d(x: np.ndarray, kernel, stride, pads: Pads, p: PoolParams) -> np.ndarray:
    """MAX_POOL_2D: max over in-image taps, clamp."""
    best = None
    for _, _, tap in _taps(x.astype(np.int64), kernel, stride, (1, 1), pads, qm.INT32_MIN):
        best = tap if best is None else np.maximum(best, tap)
    return np.clip(best, p.act_min, p.act_max).astype(np.int8)


def add(a: np.ndarray, b: np.ndarray, p: AddParams) -> np.ndarray:
    """ADD: both inputs scaled to a common 2^20-shifted scale, summed, requantized."""
    m = p.mult
    sa = qm.wrap_int32((a.astype(np.int64) + p.input1_offset) << m.left_shift)
    sb = qm.wrap_int32((b.astype(np.int64) + p.input2_offset) << m.left_shift)
    ra = qm.multiply_by_quantized_multiplier(sa, m.input1_multiplier, m.input1_shift)
    rb = qm.multiply_by_quantized_multiplier(sb, m.input2_multiplier, m.input2_shift)
    return qm.requantize(qm.wrap_int32(ra + rb), m.output_multiplier, m.output_shift, p.output_offset,
                         p.act_min, p.act_max)


def mul(a: np.ndarray, b: np.ndarray, p: MulParams) -> np.ndarray:
    """MUL: (a - zp_a) * (b - zp_b) broadcast, requantized with s_a * s_b / s_out."""
    prod = (a.astype(np.int64) + p.input1_offset) * (b.astype(np.int64) + p.input2_offset)
    return qm.requantize(qm.wrap_int32(prod), p.multiplier, p.shift, p.output_offset, p.act_min, p.act_max)


def mean(x: np.ndarray, axes: Sequence[int], keep_dims: bool, p: MeanParams) -> np.ndarray:
    """MEAN: integer sum minus zp_in * n, MBQM with 1/n folded into the multiplier, + zp_out."""
    axes = normalize_axes(axes, x.ndim)
    total = x.astype(np.int64).sum(axis=axes, keepdims=keep_dims)
    shifted = qm.wrap_int32(total - p.input_zero_point * p.count)
    return qm.requantize(shifted, p.multiplier, p.shift, p.output_zero_point, qm.INT8_MIN, qm.INT8_MAX)


def fully_connected(x: np.ndarray, w: np.ndarray, bias: Optional[np.ndarray], out_shape,
                    p: ConvParams) -> np.ndarray:
    """FULLY_CONNECTED: rows of x (flattened to [-1, K]) times weights [N, K]^T, per-channel requantize."""
    xs = x.reshape(-1, w.shape[1]).astype(np.int64) + p.input_offset
    acc = xs @ w.astype(np.int64).T
    if bias is not None:
        acc = acc + bias.astype(np.int64)
    y = qm.requantize(qm.wrap_int32(acc), p.multiplier, p.shift, p.output_offset, p.act_min, p.act_max)
    return y.reshape(out_shape)


def pad(x: np.ndarray, pads: Sequence[tuple[int, int]], pad_value: int) -> np.ndarray:
    """PAD with the (input = output) zero point."""
    return np.pad(x, tuple(tuple(pp) for pp in pads), constant_values=pad_value)


def nearest_index(out_size: int, in_size: int, align_corners: bool, half_pixel_centers: bool) -> np.ndarray:
    """TFLite ``GetNearestNeighbor`` for every output index, in float32 as the C code computes it."""
    f32 = np.float32
    if align_corners and out_size > 1:
        scale = f32(in_size - 1) / f32(out_size - 1)
    else:
        scale = f32(in_size) / f32(out_size)
    offset = f32(0.5) if half_pixel_centers else f32(0.0)
    v = (np.arange(out_size, dtype=np.float32) + offset) * scale
    idx = (qm.round_half_away(v) if align_corners else np.floor(v)).astype(np.int64)
    idx = np.minimum(idx, in_size - 1)
    return np.maximum(idx, 0) if half_pixel_centers else idx


def resize_nearest(x: np.ndarray, size: tuple[int, int], align_corners: bool, half_pixel_centers: bool
                   ) -> np.ndarray:
    """RESIZE_NEAREST_NEIGHBOR: copies int8 values (same quantization in and out)."""
    rows = nearest_index(size[0], x.shape[1], align_corners, half_pixel_centers)
    cols = nearest_index(size[1], x.shape[2], align_corners, half_pixel_centers)
    return x[:, rows][:, :, cols]


def quantize(x: np.ndarray, p: QuantizeParams) -> np.ndarray:
    """QUANTIZE: float32 -> int8 (AffineQuantize) or int8 -> int8 (Requantize)."""
    if p.multiplier is None:
        return qm.quantize_float(x, p.scale, p.zero_point)
    return qm.requantize(x.astype(np.int64) - p.input_zero_point, p.multiplier, p.shift, p.zero_point,
                         qm.INT8_MIN, qm.INT8_MAX)


# ---------------------------------------------------------------------- dispatch
def eval_op(graph: Graph, op: Op, args: Sequence[np.ndarray], pads: Optional[Pads] = None) -> np.ndarray:
    """Run one op on input arrays (constants are read from the graph, whatever ``args`` holds for them).

    ``pads`` overrides the op's own spatial padding (conv, depthwise, pooling, pad);
    the patch executor passes a tile's border pads here.
    """
    if op.params is None and op.kind not in ('reshape', 'transpose', 'concat', 'resize_nearest'):
        raise GraphError(f'{op.label()}: no parameters; call graph.finalize() first')
    a, k, p = op.attrs, op.kind, op.params
    out_shape = graph.tensor(op.outputs[0]).shape
    if k in ('conv2d', 'depthwise_conv2d', 'fully_connected'):
        w = graph.tensor(op.inputs[1]).data
        bias = graph.tensor(op.inputs[2]).data if len(op.inputs) > 2 else None
        if k == 'fully_connected':
            return fully_connected(args[0], w, bias, out_shape, p)
        pp = pads if pads is not None else a.padding.as_tuple()
        if k == 'conv2d':
            return conv2d(args[0], w, bias, a.stride, a.dilation, pp, p)
        return depthwise_conv2d(args[0], w, bias, a.stride, a.dilation, pp, a.depth_multiplier, p)
    if k in ('average_pool2d', 'max_pool2d'):
        pp = pads if pads is not None else a.padding.as_tuple()
        fn = average_pool2d if k == 'average_pool2d' else max_pool2d
        return fn(args[0], a.kernel, a.stride, pp, p)
    if k == 'pad':
        if pads is not None:
            top, bottom, left, right = pads
            return pad(args[0], ((0, 0), (top, bottom), (left, right), (0, 0)), p.pad_value)
        return pad(args[0], a.pads, p.pad_value)
    if k == 'add':
        return add(args[0], args[1], p)
    if k == 'mul':
        return mul(args[0], args[1], p)
    if k == 'mean':
        return mean(args[0], a.axes, a.keep_dims, p)
    if k == 'resize_nearest':
        return resize_nearest(args[0], a.size, a.align_corners, a.half_pixel_centers)
    if k == 'concat':
        return np.concatenate(args, axis=a.axis % args[0].ndim)
    if k == 'reshape':
        return args[0].reshape(out_shape)
    if k == 'transpose':
        return np.transpose(args[0], a.perm)
    if k == 'quantize':
        return quantize(args[0], p)
    if k == 'dequantize':
        return qm.dequantize(args[0], p.scale, p.zero_point)
    raise GraphError(f'{op.label()}: no reference implementation')


def check_input(graph: Graph, name: str, value: np.ndarray) -> np.ndarray:
    """``value`` if its shape and dtype are what graph tensor ``name`` expects, else GraphError."""
    t = graph.tensor(name)
    value = np.asarray(value)
    if value.shape != t.shape:
        raise GraphError(f'input {name!r}: got shape {value.shape}; the graph expects {t.shape}')
    want = np.dtype(DTYPES[t.dtype])
    if value.dtype != want:
        raise GraphError(f'input {name!r}: got dtype {value.dtype}; the graph expects {want}')
    return value


def run(graph: Graph, inputs: Union[Sequence[np.ndarray], Mapping[str, np.ndarray]],
        return_all: bool = False) -> Union[list[np.ndarray], dict[str, np.ndarray]]:
    """Run the whole graph layer by layer.

    Args:
        graph: The graph (finalized here if it is not yet).
        inputs: Arrays in ``graph.inputs`` order, or a dict by tensor name.
        return_all: Return every tensor (activations and constants) by name instead of
            the list of graph outputs.
    """
    if not graph.finalized:
        graph.finalize()
    if not isinstance(inputs, Mapping):
        if len(inputs) != len(graph.inputs):
            raise GraphError(f'{len(inputs)} inputs for a graph with inputs {graph.inputs}')
        inputs = dict(zip(graph.inputs, inputs))
    values = {n: t.data for n, t in graph.tensors.items() if t.is_const}
    for name in graph.inputs:
        if name not in inputs:
            raise GraphError(f'missing graph input {name!r}')
        values[name] = check_input(graph, name, inputs[name])
    for op in graph.ops:
        values[op.outputs[0]] = eval_op(graph, op, [values[t] for t in op.inputs])
    return values if return_all else [values[t] for t in graph.outputs]


__all__ = ['add', 'average_pool2d', 'check_input', 'conv2d', 'depthwise_conv2d', 'eval_op', 'fully_connected',
           'max_pool2d', 'mean', 'mul', 'nearest_index', 'pad', 'quantize', 'resize_nearest', 'run']
