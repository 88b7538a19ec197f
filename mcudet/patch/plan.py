"""PatchPlan: the one schedule that every executor, the memory model and the C generator read.

A plan says: units ``0 .. split - 1`` of the network run tile by tile on a
``rows x cols`` grid of the stage output; for every tile and every layer of that
stage, which slice of the layer's input map (full-map coordinates, clipped to the
map) the tile reads, which zeros to add at the image border, and which slice of
the output map it writes. The remaining units run layer by layer on whole maps.

A grid is separable, so the plan stores one :class:`~mcudet.patch.receptive.AxisTile`
per tile row and per tile column and materialises the 2-D :class:`TilePlan` objects
from them (:attr:`PatchPlan.tiles`); the JSON form carries both. No torch here.

Executing one tile (what tests/patch/helpers.py ``run_tiles`` does; exact by construction)::

    x, origin = frame[tile.input_window.slices()], tile.input_window
    for unit in tile.units:
        unit_in, unit_origin = x, origin
        for lw in unit.layers:
            x = pad(x[lw.in_window.slices(origin)], lw.pads)   # zeros only at map borders
            x, origin = valid_conv(x, layer.stride), lw.out_window
        if unit.residual_window is not None:
            x = x + unit_in[unit.residual_window.slices(unit_origin)]
    stage_out[tile.out_window.slices()] = x
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Optional, Union

from mcudet.arch.graph import Unit, build_units
from mcudet.arch.spec import ArchSpec

from .receptive import AxisLayer, AxisTile, AxisUnit, PatchPlanError, axis_tiles, check_split

PLAN_FORMAT = 'mcudet.patch_plan/1'
Pads = tuple[int, int, int, int]  # zeros to add: (top, bottom, left, right)


@dataclass(frozen=True)
class Window:
    """A rectangle ``rows [r0, r1) x cols [c0, c1)`` of a feature map, full-map coordinates."""

    r0: int
    r1: int
    c0: int
    c1: int

    @property
    def hw(self) -> tuple[int, int]:
        return (self.r1 - self.r0, self.c1 - self.c0)

    @property
    def area(self) -> int:
        return (self.r1 - self.r0) * (self.c1 - self.c0)

    def slices(self, origin: Optional[Window] = None) -> tuple[slice, slice]:
        """Index of this window in the full map, or in a buffer that holds ``origin``."""
        r, c = (origin.r0, origin.c0) if origin is not None else (0, 0)
        return slice(self.r0 - r, self.r1 - r), slice(self.c0 - c, self.c1 - c)

    def contains(self, other: Window) -> bool:
        return (self.r0 <= other.r0 and other.r1 <= self.r1
                and self.c0 <= other.c0 and other.c1 <= self.c1)

    def to_list(self) -> list[int]:
        return [self.r0, self.r1, self.c0, self.c1]

    @classmethod
    def from_spans(cls, rows: tuple[int, int], cols: tuple[int, int]) -> Window:
        return cls(rows[0], rows[1], cols[0], cols[1])


@dataclass(frozen=True)
class LayerWindow:
    """What one tile does in one layer.

    Args:
        name: Layer name from :func:`mcudet.arch.graph.build_units`.
        kind: 'conv', 'pw' or 'dw'.
        in_window: Slice of the layer's input map the tile reads (clipped to the map).
        pads: Zeros (top, bottom, left, right) to put around ``in_window`` before a
            'valid' convolution with the layer's stride; non-zero only at map borders.
        out_window: Slice of the layer's output map the tile produces.
    """

    name: str
    kind: str
    in_window: Window
    pads: Pads
    out_window: Window


@dataclass(frozen=True)
class UnitWindow:
    """What one tile does in one unit.

    Args:
        index: Unit index (stem = 0).
        name: Unit name.
        in_window: Slice of the unit input the tile holds (the previous unit's ``out_window``).
        out_window: Slice of the unit output the tile produces.
        residual_window: Slice of the unit input added to the output (None without residual).
        layers: Per-layer windows in execution order.
    """

    index: int
    name: str
    in_window: Window
    out_window: Window
    residual_window: Optional[Window]
    layers: tuple[LayerWindow, ...]


@dataclass(frozen=True)
class TilePlan:
    """One tile: its region of the stage output and its windows in every unit of the stage."""

    row: int
    col: int
    out_window: Window
    units: tuple[UnitWindow, ...]

    @property
    def input_window(self) -> Window:
        """Slice of the network input (the input patch), clipped to the image."""
        return self.units[0].in_window

    @property
    def input_pads(self) -> Pads:
        return self.units[0].layers[0].pads


def _combine(r: AxisTile, c: AxisTile) -> TilePlan:
    units = []
    for ru, cu in zip(r.units, c.units):
        layers = tuple(LayerWindow(rl.name, rl.kind, Window.from_spans(rl.in_span, cl.in_span),
                                   (rl.pad[0], rl.pad[1], cl.pad[0], cl.pad[1]),
                                   Window.from_spans(rl.out_span, cl.out_span))
                       for rl, cl in zip(ru.layers, cu.layers))
        residual = (Window.from_spans(ru.residual_span, cu.residual_span)
                    if ru.residual_span is not None else None)
        units.append(UnitWindow(ru.index, ru.name, Window.from_spans(ru.in_span, cu.in_span),
                                Window.from_spans(ru.out_span, cu.out_span), residual, layers))
    return TilePlan(r.index, c.index, Window.from_spans(r.out_span, c.out_span), tuple(units))


@dataclass(frozen=True)
class PatchPlan:
    """A patch-based schedule; build it with :func:`make_patch_plan`.

    Args:
        spec_name: Name of the ArchSpec it was made for (checked by consumers).
        split: Units ``0 .. split - 1`` run per patch (stem = unit 0).
        grid: (rows, cols) of tiles over the stage output.
        input_hw: Network input (height, width).
        stage_out_hw: Spatial size of the stage output (unit ``split - 1``'s output).
        stage_out_channels: Channels of the stage output.
        unit_names: Names of the per-patch units.
        row_tiles: Per tile row, the row intervals of every unit and layer.
        col_tiles: Per tile column, the column intervals.
    """

    spec_name: str
    split: int
    grid: tuple[int, int]
    input_hw: tuple[int, int]
    stage_out_hw: tuple[int, int]
    stage_out_channels: int
    unit_names: tuple[str, ...]
    row_tiles: tuple[AxisTile, ...]
    col_tiles: tuple[AxisTile, ...]

    @cached_property
    def tiles(self) -> tuple[TilePlan, ...]:
        """All tiles, row-major (tile (r, c) is ``tiles[r * cols + c]``)."""
        return tuple(_combine(r, c) for r in self.row_tiles for c in self.col_tiles)

    def tile(self, row: int, col: int) -> TilePlan:
        return self.tiles[row * self.grid[1] + col]

    @property
    def input_patch_size(self) -> tuple[int, int]:
        """Largest input window (h, w) of any tile, clipped to the image (what is stored)."""
        return (max(t.in_span[1] - t.in_span[0] for t in self.row_tiles),
                max(t.in_span[1] - t.in_span[0] for t in self.col_tiles))

    @property
    def stage_output_bytes(self) -> int:
        """int8 bytes of the full stage output buffer the tiles are written into."""
        return self.stage_out_channels * self.stage_out_hw[0] * self.stage_out_hw[1]

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict; ``tiles`` is the explicit per-tile form for the C generator."""
        return {
            'format': PLAN_FORMAT,
            'spec_name': self.spec_name,
            'split': self.split,
            'grid': list(self.grid),
            'input_hw': list(self.input_hw),
            'stage_out_hw': list(self.stage_out_hw),
            'stage_out_channels': self.stage_out_channels,
            'unit_names': list(self.unit_names),
            'row_tiles': [_axis_tile_to_dict(t) for t in self.row_tiles],
            'col_tiles': [_axis_tile_to_dict(t) for t in self.col_tiles],
            'tiles': [_tile_to_dict(t) for t in self.tiles],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = '<dict>') -> PatchPlan:
        """Rebuild from :meth:`to_dict`; an edited ``tiles`` list that disagrees is refused."""
        if d.get('format') != PLAN_FORMAT:
            raise PatchPlanError(f'{source}: format={d.get("format")!r}; expected {PLAN_FORMAT!r}')
        try:
            plan = cls(d['spec_name'], int(d['split']), _pair(d['grid']), _pair(d['input_hw']),
                       _pair(d['stage_out_hw']), int(d['stage_out_channels']),
                       tuple(d['unit_names']),
                       tuple(_axis_tile_from_dict(t) for t in d['row_tiles']),
                       tuple(_axis_tile_from_dict(t) for t in d['col_tiles']))
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise PatchPlanError(f'{source}: malformed patch plan ({type(e).__name__}: {e})') from None
        if 'tiles' in d and [_tile_to_dict(t) for t in plan.tiles] != d['tiles']:
            raise PatchPlanError(f'{source}: the explicit "tiles" list disagrees with row_tiles/col_tiles; '
                                 f'regenerate the plan instead of editing it')
        return plan

    def verify(self, spec: ArchSpec) -> None:
        """Raise unless this plan is exactly what ``spec`` gives (e.g. after loading JSON)."""
        if spec.name != self.spec_name:
            raise PatchPlanError(f'plan was made for spec {self.spec_name!r}, not {spec.name!r}')
        fresh = make_patch_plan(spec, self.input_hw, self.grid, self.split)
        if fresh != self:
            raise PatchPlanError(f'plan for {spec.name!r} (split={self.split}, grid={self.grid}, '
                                 f'input_hw={self.input_hw}) is stale or edited: its windows differ from '
                                 f'the spec; regenerate it with make_patch_plan')

    def to_json(self, indent: Optional[int] = None) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_json(cls, text: str, source: str = '<json>') -> PatchPlan:
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise PatchPlanError(f'{source}: not valid JSON ({e})') from None
        return cls.from_dict(d, source)


def _pair(x: Sequence[int]) -> tuple[int, int]:
    a, b = x
    return (int(a), int(b))


def _axis_tile_to_dict(t: AxisTile) -> dict[str, Any]:
    return {'index': t.index, 'out_span': list(t.out_span), 'units': [
        {'index': u.index, 'name': u.name, 'in_span': list(u.in_span), 'out_span': list(u.out_span),
         'residual_span': list(u.residual_span) if u.residual_span is not None else None,
         'layers': [{'name': ly.name, 'kind': ly.kind, 'in_span': list(ly.in_span), 'pad': list(ly.pad),
                     'out_span': list(ly.out_span)} for ly in u.layers]}
        for u in t.units]}


def _axis_tile_from_dict(d: dict[str, Any]) -> AxisTile:
    units = tuple(
        AxisUnit(int(u['index']), u['name'], _pair(u['in_span']), _pair(u['out_span']),
                 _pair(u['residual_span']) if u['residual_span'] is not None else None,
                 tuple(AxisLayer(ly['name'], ly['kind'], _pair(ly['in_span']), _pair(ly['pad']),
                                 _pair(ly['out_span'])) for ly in u['layers']))
        for u in d['units'])
    return AxisTile(int(d['index']), _pair(d['out_span']), units)


def _tile_to_dict(t: TilePlan) -> dict[str, Any]:
    return {'row': t.row, 'col': t.col, 'out_window': t.out_window.to_list(), 'units': [
        {'index': u.index, 'name': u.name, 'in_window': u.in_window.to_list(),
         'out_window': u.out_window.to_list(),
         'residual_window': u.residual_window.to_list() if u.residual_window is not None else None,
         'layers': [{'name': ly.name, 'kind': ly.kind, 'in_window': ly.in_window.to_list(),
                     'pads': list(ly.pads), 'out_window': ly.out_window.to_list()} for ly in u.layers]}
        for u in t.units]}


# ---------------------------------------------------------------------- construction
def normalize_grid(grid: Union[int, Sequence[int]]) -> tuple[int, int]:
    """``4`` -> (4, 4); ``(2, 3)`` -> (2, 3); anything else is refused with the reason."""
    if isinstance(grid, int) and not isinstance(grid, bool):
        grid = (grid, grid)
    try:
        rows, cols = grid
    except (TypeError, ValueError):
        raise PatchPlanError(f'grid={grid!r}; give an int n (n x n tiles) or a pair (rows, cols)') from None
    for label, n in (('rows', rows), ('cols', cols)):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise PatchPlanError(f'grid={tuple(grid)!r}: {label}={n!r} must be a positive integer')
    return (rows, cols)


def normalize_input_hw(spec: ArchSpec, input_hw: Union[None, int, Sequence[int]]) -> tuple[int, int]:
    """None -> the spec's resolution; an int -> square; checks positivity."""
    if input_hw is None:
        input_hw = spec.resolution
    if isinstance(input_hw, int) and not isinstance(input_hw, bool):
        input_hw = (input_hw, input_hw)
    try:
        h, w = input_hw
    except (TypeError, ValueError):
        raise PatchPlanError(f'input_hw={input_hw!r}; give (height, width) or one int') from None
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in (h, w)):
        raise PatchPlanError(f'input_hw={tuple(input_hw)!r} must be two positive integers')
    return (h, w)


def check_grid(units: Sequence[Unit], split: int, grid: tuple[int, int]) -> None:
    """Every tile must own at least one pixel of the stage output."""
    h, w = units[split - 1].out_hw
    if grid[0] > h or grid[1] > w:
        raise PatchPlanError(
            f'grid={grid} is larger than the stage output {h}x{w} after unit {split - 1} '
            f'({units[split - 1].name}); use at most {h}x{w} tiles or a smaller split')


def plan_from_units(spec_name: str, units: Sequence[Unit], input_hw: tuple[int, int],
                    grid: tuple[int, int], split: int,
                    axis_cache: Optional[dict[tuple[int, int, int], tuple[AxisTile, ...]]] = None
                    ) -> PatchPlan:
    """Build a plan from already-expanded units; ``axis_cache`` lets a search reuse traces.

    Arguments are validated here too (the search calls this directly).
    """
    check_split(units, split, spec_name)
    check_grid(units, split, grid)
    cache = axis_cache if axis_cache is not None else {}
    per_axis = []
    for axis, parts in enumerate(grid):
        key = (split, parts, axis)
        if key not in cache:
            cache[key] = axis_tiles(units, split, parts, axis)
        per_axis.append(cache[key])
    last = units[split - 1]
    return PatchPlan(spec_name, split, grid, input_hw, last.out_hw, last.out_channels,
                     tuple(u.name for u in units[:split]), per_axis[0], per_axis[1])


def make_patch_plan(spec: ArchSpec, input_hw: Union[None, int, Sequence[int]] = None,
                    grid: Union[int, Sequence[int]] = 4, split: int = 5) -> PatchPlan:
    """Plan units ``0 .. split - 1`` of ``spec`` tile by tile on a ``grid`` of the stage output.

    Args:
        spec: The network.
        input_hw: Input (height, width), an int for a square, or None for ``spec.resolution``.
        grid: (rows, cols) of tiles, or n for n x n. Tiles that the stage output does not
            divide evenly differ by one pixel (the first ones are larger).
        split: Number of units run per patch; MobileNetV2's paper choice is 5 (stem +
            4 blocks, ending at 28x28 for a 224 input).
    """
    hw = normalize_input_hw(spec, input_hw)
    g = normalize_grid(grid)
    return plan_from_units(spec.name, build_units(spec, hw), hw, g, split)
