"""The layer-level view of an ArchSpec at a given input size.

A network is a sequence of *units*: the stem (unit 0), one unit per block, and the
optional feature-mix layer. A patch-based schedule splits at a unit boundary, so
"split 5" means the stem plus the first four blocks run per patch (the paper's
"first 5 blocks" of MobileNetV2). Each unit holds its layers with their shapes.
No torch here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .spec import ArchSpec, conv_out_size

# Layer kinds: 'conv' dense kxk (stem), 'pw' 1x1 (expand, project, feature mix),
# 'dw' depthwise kxk, 'se' squeeze-excite (global pool, two FCs, sigmoid, multiply).
LAYER_KINDS = ('conv', 'pw', 'dw', 'se')


@dataclass(frozen=True)
class Layer:
    """One layer with its geometry (NCHW channels, HW sides)."""

    name: str
    kind: str
    unit: int
    in_channels: int
    out_channels: int
    kernel_size: int
    stride: int
    act: Optional[str]
    in_hw: tuple[int, int]
    out_hw: tuple[int, int]
    se_channels: int = 0

    @property
    def padding(self) -> int:
        return self.kernel_size // 2

    @property
    def in_bytes(self) -> int:
        """int8 activation bytes of the input tensor."""
        return self.in_channels * self.in_hw[0] * self.in_hw[1]

    @property
    def out_bytes(self) -> int:
        return self.out_channels * self.out_hw[0] * self.out_hw[1]

    def macs_per_output_pixel(self) -> int:
        """Multiply-accumulates per output spatial position (all channels)."""
        k2 = self.kernel_size * self.kernel_size
        if self.kind == 'conv' or self.kind == 'pw':
            return self.in_channels * self.out_channels * k2
        if self.kind == 'dw':
            return self.out_channels * k2
        return 0

    @property
    def macs(self) -> int:
        """MACs of the layer on its full input. SE counts its two FC layers."""
        if self.kind == 'se':
            return 2 * self.in_channels * self.se_channels
        return self.out_hw[0] * self.out_hw[1] * self.macs_per_output_pixel()

    @property
    def params(self) -> int:
        """Weights + folded-BN biases (the deployed parameter count)."""
        k2 = self.kernel_size * self.kernel_size
        if self.kind == 'dw':
            return self.out_channels * k2 + self.out_channels
        if self.kind == 'se':
            return 2 * self.in_channels * self.se_channels + self.se_channels + self.in_channels
        return self.in_channels * self.out_channels * k2 + self.out_channels


@dataclass(frozen=True)
class Unit:
    """The stem, one block, or the feature-mix layer."""

    index: int
    name: str
    layers: tuple[Layer, ...]
    residual: bool
    in_channels: int
    out_channels: int
    in_hw: tuple[int, int]
    out_hw: tuple[int, int]

    @property
    def stride(self) -> int:
        s = 1
        for layer in self.layers:
            s *= layer.stride
        return s

    @property
    def macs(self) -> int:
        return sum(layer.macs for layer in self.layers)


def _hw(hw: tuple[int, int], kernel: int, stride: int) -> tuple[int, int]:
    return (conv_out_size(hw[0], kernel, stride), conv_out_size(hw[1], kernel, stride))


def build_units(spec: ArchSpec, input_hw: Optional[tuple[int, int]] = None) -> list[Unit]:
    """Expand a spec into units and layers for an input of ``input_hw`` (default: its resolution)."""
    hw = tuple(input_hw) if input_hw is not None else (spec.resolution, spec.resolution)
    units: list[Unit] = []

    stem = spec.stem
    out_hw = _hw(hw, stem.kernel_size, stem.stride)
    layer = Layer('stem', 'conv' if stem.kernel_size > 1 else 'pw', 0, spec.in_channels,
                  stem.out_channels, stem.kernel_size, stem.stride, stem.act, hw, out_hw)
    units.append(Unit(0, 'stem', (layer,), False, spec.in_channels, stem.out_channels, hw, out_hw))
    hw, c_in = out_hw, stem.out_channels

    for i, b in enumerate(spec.blocks):
        name = f'blocks.{i}'
        mid = b.hidden_channels(c_in)
        layers, cur_hw, cur_c = [], hw, c_in
        if b.has_expand(c_in):
            layers.append(Layer(f'{name}.expand', 'pw', i + 1, cur_c, mid, 1, 1, b.act, cur_hw, cur_hw))
            cur_c = mid
        dw_hw = _hw(cur_hw, b.kernel_size, b.stride)
        layers.append(Layer(f'{name}.dw', 'dw', i + 1, cur_c, cur_c, b.kernel_size, b.stride, b.act,
                            cur_hw, dw_hw))
        cur_hw = dw_hw
        se = b.se_channels(c_in)
        if se:
            layers.append(Layer(f'{name}.se', 'se', i + 1, cur_c, cur_c, 1, 1, None, cur_hw, cur_hw,
                                se_channels=se))
        layers.append(Layer(f'{name}.project', 'pw', i + 1, cur_c, b.out_channels, 1, 1, None,
                            cur_hw, cur_hw))
        units.append(Unit(i + 1, name, tuple(layers), b.has_residual(c_in), c_in, b.out_channels,
                          hw, cur_hw))
        hw, c_in = cur_hw, b.out_channels

    if spec.feature_mix is not None:
        fm = spec.feature_mix
        out_hw = _hw(hw, fm.kernel_size, fm.stride)
        layer = Layer('feature_mix', 'pw' if fm.kernel_size == 1 else 'conv', len(units), c_in,
                      fm.out_channels, fm.kernel_size, fm.stride, fm.act, hw, out_hw)
        units.append(Unit(len(units), 'feature_mix', (layer,), False, c_in, fm.out_channels, hw, out_hw))
    return units
