"""Op kinds of the integer graph: typed attributes, geometry and shape rules.

Every op kind has one frozen attribute dataclass. Geometry is explicit: a 2-D op
carries its ``Padding`` (top, bottom, left, right) rather than a SAME/VALID flag, so
TFLite's SAME (extra row at the bottom/right) and PyTorch's symmetric ``k // 2`` are
both expressible; out-of-image taps are skipped (for conv: the same as padding with
the input zero point; for average pooling: not counted).

Squeeze-excite in int8: global MEAN, two 1x1 convs (or FULLY_CONNECTED), a gate and a
channel-wise MUL. TFLite int8 has LOGISTIC and HARD_SWISH, but their fixed-point
kernels (exp/rescale tables) are not part of this IR. ``hardsigmoid(x) = clamp(x / 6 +
0.5, 0, 1)`` needs no op of its own: fold the 1/6 into the last conv's weights and the
+0.5 into its bias, give that conv the output quantization ``scale = 1/255, zero_point
= -128`` (int8 spans exactly [0, 1]) and activation 'relu'; the int8 saturation is the
clamp. The quantizer emits SE that way; :class:`Mul` then applies the gate.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Union

from .quant_math import ACTIVATIONS

Pair = tuple[int, int]


@dataclass(frozen=True)
class Padding:
    """Zeros / skipped taps around a feature map: (top, bottom, left, right)."""

    top: int = 0
    bottom: int = 0
    left: int = 0
    right: int = 0

    def as_tuple(self) -> tuple[int, int, int, int]:
        return (self.top, self.bottom, self.left, self.right)

    def axis(self, axis: int) -> Pair:
        """(before, after) along spatial axis 0 (rows) or 1 (columns)."""
        return (self.top, self.bottom) if axis == 0 else (self.left, self.right)

    @classmethod
    def symmetric(cls, kernel: Pair, dilation: Pair = (1, 1)) -> Padding:
        """PyTorch's ``padding = k // 2`` (for dilation d: d * (k - 1) // 2)."""
        ph, pw = (d * (k - 1) // 2 for k, d in zip(kernel, dilation))
        return cls(ph, ph, pw, pw)

    @classmethod
    def same(cls, in_hw: Pair, kernel: Pair, stride: Pair, dilation: Pair = (1, 1)) -> Padding:
        """TFLite SAME: out = ceil(in / s); the odd extra pad goes to the bottom / right."""
        pads = []
        for n, k, s, d in zip(in_hw, kernel, stride, dilation):
            out = -(-n // s)
            total = max((out - 1) * s + effective_kernel(k, d) - n, 0)
            pads.append((total // 2, total - total // 2))
        return cls(pads[0][0], pads[0][1], pads[1][0], pads[1][1])


def effective_kernel(kernel: int, dilation: int) -> int:
    return (kernel - 1) * dilation + 1


def out_size(n: int, kernel: int, stride: int, dilation: int, before: int, after: int) -> int:
    """Output length of a 2-D window op along one axis (floor, as every framework does)."""
    return (n + before + after - effective_kernel(kernel, dilation)) // stride + 1


def tflite_padding(in_hw: Pair, out_hw: Pair, kernel: Pair, stride: Pair, dilation: Pair,
                   padding: Padding) -> Union[str, None]:
    """'SAME' or 'VALID' when TFLite's flag reproduces ``padding`` exactly, else None.

    Equal output size and equal top / left padding put every tap on the same pixel;
    taps that fall past the bottom / right are skipped either way.
    """
    valid_out = tuple(out_size(n, k, s, d, 0, 0) for n, k, s, d in zip(in_hw, kernel, stride, dilation))
    if padding.top == 0 and padding.left == 0 and tuple(out_hw) == valid_out:
        return 'VALID'
    same = Padding.same(in_hw, kernel, stride, dilation)
    same_out = tuple(-(-n // s) for n, s in zip(in_hw, stride))
    if (padding.top, padding.left) == (same.top, same.left) and tuple(out_hw) == same_out:
        return 'SAME'
    return None


def _check_activation(activation: str) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f'activation={activation!r}; expected one of {ACTIVATIONS}')


# ---------------------------------------------------------------------- attributes per kind
@dataclass(frozen=True)
class Conv2D:
    """CONV_2D. Inputs: x [1,H,W,Ci], weights [Co,kh,kw,Ci] int8 (per-channel, dim 0), bias [Co] int32."""

    kernel: Pair
    stride: Pair = (1, 1)
    padding: Padding = Padding()
    dilation: Pair = (1, 1)
    activation: str = 'none'

    def __post_init__(self) -> None:
        _check_activation(self.activation)


@dataclass(frozen=True)
class DepthwiseConv2D:
    """DEPTHWISE_CONV_2D. Inputs: x [1,H,W,C], weights [1,kh,kw,C*m] (per-channel, dim 3), bias [C*m]."""

    kernel: Pair
    stride: Pair = (1, 1)
    padding: Padding = Padding()
    dilation: Pair = (1, 1)
    depth_multiplier: int = 1
    activation: str = 'none'

    def __post_init__(self) -> None:
        _check_activation(self.activation)


@dataclass(frozen=True)
class Pool2D:
    """AVERAGE_POOL_2D / MAX_POOL_2D: same scale and zero point in and out; padded taps skipped."""

    kernel: Pair
    stride: Pair = (1, 1)
    padding: Padding = Padding()
    activation: str = 'none'

    def __post_init__(self) -> None:
        _check_activation(self.activation)

    @property
    def dilation(self) -> Pair:
        """Pools never dilate; the shared window geometry reads this."""
        return (1, 1)


@dataclass(frozen=True)
class Add:
    """ADD of two int8 tensors of one shape (TFLite's left_shift = 20 rule)."""

    activation: str = 'none'

    def __post_init__(self) -> None:
        _check_activation(self.activation)


@dataclass(frozen=True)
class Mul:
    """MUL; the second input may broadcast (SE gate [1,1,1,C] times a [1,H,W,C] map)."""

    activation: str = 'none'

    def __post_init__(self) -> None:
        _check_activation(self.activation)


@dataclass(frozen=True)
class Mean:
    """MEAN over ``axes`` (global pooling); TFLite's integer rule with 1/n folded into the multiplier."""

    axes: tuple[int, ...]
    keep_dims: bool = False


@dataclass(frozen=True)
class FullyConnected:
    """FULLY_CONNECTED. Inputs: x [..., K] (flattened to [rows, K]), weights [N, K], bias [N]."""

    activation: str = 'none'
    keep_num_dims: bool = False

    def __post_init__(self) -> None:
        _check_activation(self.activation)


@dataclass(frozen=True)
class Pad:
    """PAD with the input zero point; ``pads`` holds (before, after) for every dimension."""

    pads: tuple[Pair, ...]

    @property
    def spatial(self) -> Padding:
        """The H / W part of an NHWC pad."""
        (t, b), (lf, r) = self.pads[1], self.pads[2]
        return Padding(t, b, lf, r)


@dataclass(frozen=True)
class ResizeNearest:
    """RESIZE_NEAREST_NEIGHBOR to ``size`` (h, w); TFLite's index rule, same quantization in and out."""

    size: Pair
    align_corners: bool = False
    half_pixel_centers: bool = False


@dataclass(frozen=True)
class Concat:
    """CONCATENATION along ``axis``; all inputs share the output's scale and zero point."""

    axis: int


@dataclass(frozen=True)
class Reshape:
    """RESHAPE to the output tensor's shape (row-major data unchanged)."""


@dataclass(frozen=True)
class Transpose:
    """TRANSPOSE by ``perm`` (converter output puts one before MEAN; data movement only)."""

    perm: tuple[int, ...]


@dataclass(frozen=True)
class Quantize:
    """QUANTIZE: float32 -> int8 at the graph input, or int8 -> int8 requantization."""


@dataclass(frozen=True)
class Dequantize:
    """DEQUANTIZE: int8 -> float32 at the graph output."""


Attrs = Union[Conv2D, DepthwiseConv2D, Pool2D, Add, Mul, Mean, FullyConnected, Pad, ResizeNearest,
              Concat, Reshape, Transpose, Quantize, Dequantize]

#: kind -> (attribute class, number of inputs or None for "one or more")
OP_KINDS: dict[str, tuple[type, Union[int, None]]] = {
    'conv2d': (Conv2D, 3),
    'depthwise_conv2d': (DepthwiseConv2D, 3),
    'average_pool2d': (Pool2D, 1),
    'max_pool2d': (Pool2D, 1),
    'add': (Add, 2),
    'mul': (Mul, 2),
    'mean': (Mean, 1),
    'fully_connected': (FullyConnected, 3),
    'pad': (Pad, 1),
    'resize_nearest': (ResizeNearest, 1),
    'concat': (Concat, None),
    'reshape': (Reshape, 1),
    'transpose': (Transpose, 1),
    'quantize': (Quantize, 1),
    'dequantize': (Dequantize, 1),
}

# Ops whose output must carry the input's scale and zero point (TFLite copies or compares raw int8).
SAME_QUANT_KINDS = ('average_pool2d', 'max_pool2d', 'pad', 'resize_nearest', 'concat', 'reshape',
                    'transpose')


# ---------------------------------------------------------------------- shape rules
def infer_shape(kind: str, attrs: Attrs, in_shapes: Sequence[tuple[int, ...]],
                out_shape: tuple[int, ...]) -> tuple[int, ...]:
    """Output shape implied by the inputs and attributes (``out_shape`` is only read by reshape).

    Raises ValueError with the reason when the inputs do not fit the op.
    """
    x = tuple(in_shapes[0])
    if kind in ('conv2d', 'depthwise_conv2d', 'average_pool2d', 'max_pool2d'):
        if len(x) != 4 or x[0] != 1:
            raise ValueError(f'input shape {x} must be NHWC with batch 1')
        pad = attrs.padding
        oh, ow = (out_size(x[1 + a], attrs.kernel[a], attrs.stride[a], attrs.dilation[a], *pad.axis(a))
                  for a in (0, 1))
        if oh < 1 or ow < 1:
            raise ValueError(f'input {x} with kernel {attrs.kernel}, stride {attrs.stride}, padding '
                             f'{pad.as_tuple()} gives an empty output {oh}x{ow}')
        if kind == 'conv2d':
            w = tuple(in_shapes[1])
            if len(w) != 4 or w[1:3] != tuple(attrs.kernel) or w[3] != x[3]:
                kh, kw = attrs.kernel
                raise ValueError(f'weights {w} must be [Co, {kh}, {kw}, {x[3]}] (OHWI)')
            return (1, oh, ow, w[0])
        if kind == 'depthwise_conv2d':
            w = tuple(in_shapes[1])
            c = x[3] * attrs.depth_multiplier
            if w != (1, attrs.kernel[0], attrs.kernel[1], c):
                raise ValueError(f'weights {w} must be [1, {attrs.kernel[0]}, {attrs.kernel[1]}, {c}] (1HWC)')
            return (1, oh, ow, c)
        return (1, oh, ow, x[3])
    if kind == 'fully_connected':
        w = tuple(in_shapes[1])
        if len(w) != 2 or w[1] == 0 or _numel(x) % w[1]:
            raise ValueError(f'weights {w} must be [N, K] with K dividing the input size {x}')
        rows = _numel(x) // w[1]
        return (*x[:-1], w[0]) if attrs.keep_num_dims else (rows, w[0])
    if kind == 'add':
        if tuple(in_shapes[1]) != x:
            raise ValueError(f'ADD inputs {x} and {tuple(in_shapes[1])} differ (no broadcast)')
        return x
    if kind == 'mul':
        y = tuple(in_shapes[1])
        if len(y) != len(x) or any(b not in (1, a) for a, b in zip(x, y)):
            raise ValueError(f'MUL input {y} does not broadcast onto {x}')
        return x
    if kind == 'mean':
        axes = normalize_axes(attrs.axes, len(x))
        return tuple(1 if i in axes else n for i, n in enumerate(x) if attrs.keep_dims or i not in axes)
    if kind == 'pad':
        if len(attrs.pads) != len(x):
            raise ValueError(f'{len(attrs.pads)} pad pairs for a rank-{len(x)} input')
        if any(b < 0 or a < 0 for b, a in attrs.pads):
            raise ValueError(f'negative padding {attrs.pads}')
        return tuple(n + b + a for n, (b, a) in zip(x, attrs.pads))
    if kind == 'resize_nearest':
        if len(x) != 4:
            raise ValueError(f'input {x} must be NHWC')
        return (x[0], attrs.size[0], attrs.size[1], x[3])
    if kind == 'concat':
        axis = attrs.axis % len(x)
        for s in in_shapes[1:]:
            if len(s) != len(x) or any(a != b for i, (a, b) in enumerate(zip(x, s)) if i != axis):
                raise ValueError(f'CONCAT inputs {x} and {tuple(s)} differ outside axis {axis}')
        return tuple(sum(s[axis] for s in in_shapes) if i == axis else n for i, n in enumerate(x))
    if kind == 'reshape':
        if _numel(x) != _numel(out_shape):
            raise ValueError(f'cannot reshape {x} ({_numel(x)} elements) to {out_shape}')
        return tuple(out_shape)
    if kind == 'transpose':
        if sorted(attrs.perm) != list(range(len(x))):
            raise ValueError(f'perm {attrs.perm} is not a permutation of {len(x)} axes')
        return tuple(x[p] for p in attrs.perm)
    if kind in ('quantize', 'dequantize'):
        return x
    raise ValueError(f'unknown op kind {kind!r}')


def normalize_axes(axes: Sequence[int], rank: int) -> tuple[int, ...]:
    out = sorted({a % rank for a in axes})
    if any(not -rank <= a < rank for a in axes):
        raise ValueError(f'axes {tuple(axes)} out of range for rank {rank}')
    return tuple(out)


def _numel(shape: Sequence[int]) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n
