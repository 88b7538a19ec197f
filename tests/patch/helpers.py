"""Test helpers: MbV2-RD built by hand, a tiny integer NumPy executor, random small specs.

The executor is deliberately naive (explicit zero padding, a 'valid' strided
convolution as a sum of shifted slices) and works in int64, so whole-map and
tile-by-tile results can be compared for exact equality.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from hypothesis import strategies as st

from mcudet.arch.graph import Layer, Unit, build_units
from mcudet.arch.spec import ArchSpec, BlockSpec, ClassifierSpec, ConvSpec
from mcudet.patch.memory import layer_live_bytes
from mcudet.patch.plan import PatchPlan


def mbv2_rd() -> ArchSpec:
    """MbV2-RD (paper Fig. 4): stem, MB1 with a 1x1 depthwise, two MB6 s2, then 15 MB6 3x3 blocks."""
    blocks = [BlockSpec(16, 1, 1, 1), BlockSpec(24, 3, 6, 2), BlockSpec(32, 3, 6, 2)]
    for depth, chans, stride in zip((3, 4, 3, 4, 1), (32, 64, 96, 160, 320), (1, 2, 1, 2, 1)):
        blocks += [BlockSpec(chans, 3, 6, stride if i == 0 else 1) for i in range(depth)]
    return ArchSpec('mbv2-rd', ConvSpec(32, 3, 2), tuple(blocks), 224, 3, ConvSpec(1280, 1, 1),
                    ClassifierSpec(1000, 0.2))


# ---------------------------------------------------------------------- integer executor
def conv_valid(x: np.ndarray, w: np.ndarray, stride: int, depthwise: bool) -> np.ndarray:
    """'Valid' convolution of x (C, H, W); w is (Co, Ci, k, k), or (C, k, k) for depthwise."""
    k = w.shape[-1]
    ho, wo = (x.shape[1] - k) // stride + 1, (x.shape[2] - k) // stride + 1
    out = np.zeros((w.shape[0], ho, wo), dtype=np.int64)
    for ky in range(k):
        for kx in range(k):
            patch = x[:, ky:ky + stride * (ho - 1) + 1:stride, kx:kx + stride * (wo - 1) + 1:stride]
            if depthwise:
                out += w[:, ky, kx][:, None, None] * patch
            else:
                out += np.tensordot(w[:, :, ky, kx], patch, axes=(1, 0))
    return out


def requant(x: np.ndarray, act: object) -> np.ndarray:
    """Keep magnitudes small and exact (a stand-in for int8 requantisation)."""
    return np.clip(x >> 2, 0 if act else -64, 63)


def make_weights(units: Sequence[Unit], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    weights = {}
    for unit in units:
        for ly in unit.layers:
            shape = ((ly.out_channels, ly.kernel_size, ly.kernel_size) if ly.kind == 'dw' else
                     (ly.out_channels, ly.in_channels, ly.kernel_size, ly.kernel_size))
            weights[ly.name] = rng.integers(-3, 4, size=shape)
    return weights


def run_layer(x: np.ndarray, ly: Layer, w: np.ndarray, pads: tuple[int, int, int, int]) -> np.ndarray:
    top, bottom, left, right = pads
    x = np.pad(x, ((0, 0), (top, bottom), (left, right)))
    return requant(conv_valid(x, w, ly.stride, ly.kind == 'dw'), ly.act)


def run_whole(units: Sequence[Unit], weights: dict, image: np.ndarray) -> np.ndarray:
    """Whole feature maps, PyTorch's symmetric padding k // 2."""
    x = image
    for unit in units:
        unit_in = x
        for ly in unit.layers:
            p = ly.kernel_size // 2
            x = run_layer(x, ly, weights[ly.name], (p, p, p, p))
        if unit.residual:
            x = np.clip(x + unit_in, -128, 127)
    return x


def run_tiles(units: Sequence[Unit], weights: dict, image: np.ndarray, plan: PatchPlan
              ) -> tuple[np.ndarray, np.ndarray]:
    """Follow the plan tile by tile; returns the stitched stage output and a write count per pixel."""
    last = units[plan.split - 1]
    out = np.zeros((last.out_channels,) + last.out_hw, dtype=np.int64)
    count = np.zeros(last.out_hw, dtype=np.int64)
    for tile in plan.tiles:
        origin = tile.input_window
        x = image[(slice(None),) + origin.slices()]
        for uw, unit in zip(tile.units, units):
            assert uw.in_window == origin and x.shape[1:] == uw.in_window.hw, uw.name
            unit_in, unit_origin = x, origin
            for lw, ly in zip(uw.layers, unit.layers):
                assert lw.name == ly.name
                x = run_layer(x[(slice(None),) + lw.in_window.slices(origin)], ly, weights[ly.name], lw.pads)
                origin = lw.out_window
                assert x.shape[1:] == lw.out_window.hw, lw.name
            if uw.residual_window is not None:
                x = np.clip(x + unit_in[(slice(None),) + uw.residual_window.slices(unit_origin)], -128, 127)
            assert origin == uw.out_window
        assert origin == tile.out_window
        rs, cs = tile.out_window.slices()
        out[:, rs, cs] = x
        count[rs, cs] += 1
    return out, count


# ---------------------------------------------------------------------- brute-force memory
def brute_force_stage(units: Sequence[Unit], plan: PatchPlan) -> dict[str, tuple[int, int]]:
    """Per layer of the per-patch stage: (worst-tile live bytes, MACs summed over tiles), from 2-D tiles."""
    result: dict[str, tuple[int, int]] = {}
    for tile in plan.tiles:
        for uw, unit in zip(tile.units, units):
            res = unit.in_channels * uw.in_window.area if unit.residual else 0
            for k, (lw, ly) in enumerate(zip(uw.layers, unit.layers)):
                live = int(layer_live_bytes(ly.kind, ly.in_channels * lw.in_window.area,
                                            ly.out_channels * lw.out_window.area, res, k == 0,
                                            k == len(unit.layers) - 1))
                macs = lw.out_window.area * ly.macs_per_output_pixel()
                best, total = result.get(ly.name, (0, 0))
                result[ly.name] = (max(best, live), total + macs)
    return result


# ---------------------------------------------------------------------- random specs
@st.composite
def small_cases(draw: st.DrawFn, max_grid: int = 4) -> tuple[ArchSpec, tuple[int, int], int, tuple[int, int]]:
    """A small spec (kernels 1/3/5/7, strides 1/2, residuals), an input size, a split and a grid."""
    kernels = st.sampled_from([1, 3, 5, 7])
    chans = draw(st.integers(2, 4))
    stem = ConvSpec(chans, draw(kernels), draw(st.sampled_from([1, 2])), 'relu')
    blocks, c_in = [], chans
    for _ in range(draw(st.integers(1, 4))):
        out = draw(st.sampled_from([c_in, c_in, 2, 3, 4]))  # favour residual blocks
        blocks.append(BlockSpec(out, draw(kernels), draw(st.sampled_from([1, 2, 3])),
                                draw(st.sampled_from([1, 1, 2])), act='relu'))
        c_in = out
    mix = draw(st.sampled_from([None, ConvSpec(5, 1, 1, 'relu'), ConvSpec(3, 3, 2, 'relu')]))
    hw = (draw(st.integers(3, 40)), draw(st.integers(3, 40)))
    spec = ArchSpec('random', stem, tuple(blocks), hw[0], 3, mix, None)
    units = build_units(spec, hw)
    split = draw(st.integers(1, len(units)))
    oh, ow = units[split - 1].out_hw
    grid = (draw(st.integers(1, min(max_grid, oh))), draw(st.integers(1, min(max_grid, ow))))
    return spec, hw, split, grid
