"""Exact receptive fields of output regions, one spatial axis at a time.

The paper's recursion (a stride-1 kxk layer turns an output side g into g + k - 1,
a stride-2 one into 2(g - 1) + k) gives the size of an input patch but not where it
sits, nor what happens at the image border. Here every region is a half-open
interval ``[lo, hi)`` in full-map coordinates of the layer's own feature map, walked
back through each layer with PyTorch's symmetric padding ``k // 2``. The interval a
tile needs is clipped to the map; the part that fell outside becomes zero padding,
so padding appears only where a window touches the border of the feature map, and a
tile computed this way equals the whole-map result exactly.

Rows and columns are independent for a grid of tiles, so the analysis is done per
axis (:class:`AxisTile`); :mod:`mcudet.patch.plan` combines a row tile and a column
tile into a 2-D tile. No torch here.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

from mcudet.arch.graph import Unit

Span = tuple[int, int]  # half-open interval [lo, hi) along one axis


class PatchPlanError(ValueError):
    """A patch schedule that cannot be built; the message names the field and the fix."""


def split_even(size: int, parts: int) -> tuple[Span, ...]:
    """Cut ``[0, size)`` into ``parts`` contiguous spans as evenly as possible.

    The first ``size % parts`` spans are one longer (``numpy.array_split``'s rule),
    so a 28-pixel map in 3 tiles gives 10, 9, 9.
    """
    if parts < 1 or parts > size:
        raise PatchPlanError(f'cannot cut {size} pixels into {parts} non-empty tiles')
    base, extra = divmod(size, parts)
    bounds = [i * base + min(i, extra) for i in range(parts + 1)]
    return tuple((bounds[i], bounds[i + 1]) for i in range(parts))


def input_span(out: Span, kernel: int, stride: int,
               in_size: Optional[int]) -> tuple[Span, tuple[int, int]]:
    """Input interval (clipped to ``[0, in_size)``) and the (before, after) zero pads it needs.

    Output pixel ``o`` reads inputs ``[o * stride - k // 2, o * stride - k // 2 + k)``.
    With ``in_size=None`` nothing is clipped (the paper's unbounded receptive field).
    Padding the clipped interval by the returned pads and running a 'valid'
    convolution with ``stride`` yields exactly the outputs ``out``.
    """
    lo = out[0] * stride - kernel // 2
    hi = (out[1] - 1) * stride - kernel // 2 + kernel
    if out[1] <= out[0]:
        hi = lo  # nothing to produce: read nothing
    if in_size is None:
        return (lo, hi), (0, 0)
    return clip_window(lo, hi, in_size)


def clip_window(lo: int, hi: int, in_size: int) -> tuple[Span, tuple[int, int]]:
    """Clip the window ``[lo, hi)`` to ``[0, in_size)``; return it and its (before, after) pads.

    The pads always add up with the clipped interval to ``hi - lo``, also for a window that
    lies wholly in the padding (a tile whose outputs are all border padding of a later PAD):
    it reads an empty interval at the border, never a crossed one. An empty window reads
    nothing and needs no pads.
    """
    if hi <= lo:
        at = min(max(lo, 0), in_size)
        return (at, at), (0, 0)
    clo = min(max(lo, 0), in_size)
    chi = max(min(hi, in_size), clo)
    before = max(0, min(hi, 0) - lo)
    after = max(0, hi - max(lo, in_size))
    return (clo, chi), (before, after)


@dataclass(frozen=True)
class AxisLayer:
    """One layer of one tile along one axis.

    Args:
        name: Layer name from :func:`mcudet.arch.graph.build_units` ('blocks.1.dw').
        kind: 'conv', 'pw' or 'dw'.
        in_span: Clipped interval of the layer's input map that the tile reads.
        pad: Zeros (before, after) to add to ``in_span``; non-zero only at the map border.
        out_span: Interval of the layer's output map that the tile produces.
    """

    name: str
    kind: str
    in_span: Span
    pad: tuple[int, int]
    out_span: Span


@dataclass(frozen=True)
class AxisUnit:
    """One unit (stem, block, feature mix) of one tile along one axis.

    Args:
        index: Unit index (stem = 0).
        name: Unit name ('stem', 'blocks.3').
        in_span: Interval of the unit input the tile holds: the hull of what the first
            layer reads and what the residual add reads.
        out_span: Interval of the unit output the tile produces.
        residual_span: Interval of the unit input added to the output (None without
            a residual); equal to ``out_span`` because residual units have stride 1.
        layers: The unit's layers in execution order.
    """

    index: int
    name: str
    in_span: Span
    out_span: Span
    residual_span: Optional[Span]
    layers: tuple[AxisLayer, ...]


@dataclass(frozen=True)
class AxisTile:
    """All units of the per-patch stage for the ``index``-th tile along one axis."""

    index: int
    out_span: Span
    units: tuple[AxisUnit, ...]

    @property
    def in_span(self) -> Span:
        """Interval of the network input (the input patch) along this axis."""
        return self.units[0].in_span


def check_split(units: Sequence[Unit], split: int, spec_name: str = 'spec') -> None:
    """Refuse a split whose per-patch stage cannot run patch by patch.

    Squeeze-excite pools over the whole feature map, so a tile's SE scale would depend
    on pixels of other tiles: the tiles would no longer be independent and the stitched
    result would differ from the whole-map one. We refuse it instead of approximating.
    """
    if isinstance(split, bool) or not isinstance(split, int):
        raise PatchPlanError(f'split={split!r} must be an integer unit index')
    if not 1 <= split <= len(units):
        names = ', '.join(f'{u.index}={u.name}' for u in units)
        raise PatchPlanError(
            f'split={split} is out of range for {spec_name!r}, which has {len(units)} units '
            f'({names}); use 1 <= split <= {len(units)} (split=K runs units 0..K-1 per patch; '
            f'for a plain per-layer schedule use no patch plan)')
    for unit in units[:split]:
        for layer in unit.layers:
            if layer.kind == 'se':
                raise PatchPlanError(
                    f'split={split}: {layer.name} is a squeeze-excite layer, whose global pool needs '
                    f'the whole feature map, so {unit.name} cannot run per patch; use split <= '
                    f'{unit.index} (run {unit.name} in the per-layer stage) or remove SE from it')
            if layer.kind not in ('conv', 'pw', 'dw'):
                raise PatchPlanError(f'split={split}: layer {layer.name} of kind {layer.kind!r} '
                                     f'has no patch rule; use split <= {unit.index}')
        if unit.residual and unit.in_hw != unit.out_hw:
            raise PatchPlanError(f'{unit.name}: residual add between {unit.in_hw} and {unit.out_hw} maps; '
                                 f'a residual needs stride 1')


def trace_axis(units: Sequence[Unit], split: int, out: Span, axis: int,
               clip: bool = True) -> tuple[AxisUnit, ...]:
    """Walk ``out`` (an interval of unit ``split - 1``'s output) back to the network input.

    Args:
        units: From :func:`mcudet.arch.graph.build_units`; call :func:`check_split` first.
        split: Units ``0 .. split - 1`` form the per-patch stage.
        out: Interval of the stage output along ``axis``.
        axis: 0 for rows, 1 for columns.
        clip: False gives the paper's unbounded receptive field (negative starts allowed).
    """
    need = out
    traced: list[AxisUnit] = []
    for unit in reversed(units[:split]):
        unit_out = need
        layers: list[AxisLayer] = []
        for layer in reversed(unit.layers):
            size = layer.in_hw[axis] if clip else None
            span, pad = input_span(need, layer.kernel_size, layer.stride, size)
            layers.append(AxisLayer(layer.name, layer.kind, span, pad, need))
            need = span
        residual = None
        if unit.residual:
            # Stride 1: output pixel o adds input pixel o. The tile must keep the hull of
            # what the layers read and what the add reads (the add's part is the crop).
            residual = unit_out
            need = (min(need[0], unit_out[0]), max(need[1], unit_out[1]))
        traced.append(AxisUnit(unit.index, unit.name, need, unit_out, residual, tuple(reversed(layers))))
    return tuple(reversed(traced))


def axis_tiles(units: Sequence[Unit], split: int, parts: int, axis: int) -> tuple[AxisTile, ...]:
    """Tiles along one axis: the stage output cut by :func:`split_even`, each traced back."""
    size = units[split - 1].out_hw[axis]
    return tuple(AxisTile(i, span, trace_axis(units, split, span, axis))
                 for i, span in enumerate(split_even(size, parts)))


def receptive_chain(units: Sequence[Unit], split: int, out_side: int, axis: int = 0) -> list[int]:
    """The paper's recursion: side of an output patch, then of each unit input walking back.

    MobileNetV2 at 224, split 5, a 7-pixel output patch: ``[7, 15, 17, 35, 37, 75]``.
    Border clipping is ignored here (it is what an interior tile needs).
    """
    check_split(units, split)
    traced = trace_axis(units, split, (0, out_side), axis, clip=False)
    return [out_side] + [u.in_span[1] - u.in_span[0] for u in reversed(traced)]
