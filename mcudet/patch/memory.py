"""Analytic activation memory and MACs, per-layer and patch-based (the paper's convention).

Convention (``design/figures.md``), int8 activations, weights in flash:

* a layer holds its input and its output; tensors alive at the same time are summed;
  the peak is the max over layers;
* depthwise convolution (and SE's channel scaling) runs in place: ``max(in, out)``,
  except when its input is the residual kept for the add (then ``in + out``);
* a residual block keeps its input alive through the block; the project conv
  accumulates into that buffer (TinyEngine's fused add; mit-han-lab/mcunet's
  ``count_peak_activation_size`` likewise leaves the residual out of the project),
  so the project counts ``in + max(out, residual)``;
* per-patch stage: for every layer, the worst tile's live tensors (each tile's own
  clipped windows; pads are virtual, the kernel supplies the zeros) plus the full
  stage-output buffer the tiles are stitched into (the stage's last layer is counted
  with its own output too, as the paper's formula does); per-layer stage: as above;
* ``patch_peak_bytes`` excludes the full input frame (read patch by patch from the
  sensor, as in the paper); ``patch_peak_with_input_bytes`` keeps the whole frame
  resident through the per-patch stage, the stem reading its window from it in place.

MACs of a per-patch layer are summed over tiles using each tile's clipped output
window (what the exact executors compute: border tiles are smaller, nothing is
computed on padding). ``patch_macs_unclipped`` counts every tile at its unbounded
receptive field, as if the frame were padded out; the paper's per-patch-stage
figures (130M / 73M) follow that count, its whole-network figures the clipped one.
No torch here.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Optional, Union

import numpy as np

from mcudet.arch.graph import Layer, Unit, build_units
from mcudet.arch.spec import ArchSpec

from .plan import PatchPlan, normalize_input_hw
from .receptive import AxisTile, PatchPlanError, trace_axis

KB = 1024
CONVENTION = ('int8; layer = input + output; depthwise/SE in place unless the input is the kept residual; '
              'residual alive through its block, project accumulates into it; per-patch stage = worst tile '
              '+ full stage-output buffer; patch_peak_bytes excludes the input frame (streamed), '
              'patch_peak_with_input_bytes keeps it resident')

Shape = tuple[int, int, int]  # (channels, height, width)


def layer_live_bytes(kind: str, in_b: Any, out_b: Any, res_b: Any, first: bool, last: bool,
                     extra: int = 0) -> Any:
    """Live bytes while one layer runs (ints or numpy arrays, one entry per tile).

    Args:
        kind: 'conv', 'pw', 'dw' or 'se'.
        in_b, out_b: Bytes of the layer's input and output.
        res_b: Bytes of the unit input kept for the residual add (0 without residual).
        first, last: Position of the layer in its unit.
        extra: Small side buffers (SE's pooled and hidden vectors).
    """
    if kind in ('dw', 'se'):
        if first and np.any(res_b):
            # The input buffer is the residual the add still needs: no in-place update.
            return np.maximum(in_b, res_b) + out_b + extra
        return np.maximum(in_b, out_b) + (0 if first else res_b) + extra
    if first:
        return np.maximum(in_b, res_b) + out_b + extra  # with a residual, the input buffer is it
    if last:
        return in_b + np.maximum(out_b, res_b) + extra  # fused add into the residual buffer
    return in_b + out_b + res_b + extra


@dataclass(frozen=True)
class LayerRow:
    """One layer: shapes, per-layer bytes, patch-based bytes (worst tile + stage buffer), MACs."""

    name: str
    kind: str
    in_shape: Shape
    out_shape: Shape
    per_layer_bytes: int
    patch_bytes: int
    macs: int
    patch_macs: int
    patch_macs_unclipped: int


@dataclass(frozen=True)
class BlockRow:
    """One unit (stem, block, feature mix) or the classifier; the max / sum of its layers."""

    index: int
    name: str
    per_patch: bool
    residual: bool
    in_shape: Shape
    out_shape: Shape
    per_layer_bytes: int
    patch_bytes: int
    macs: int
    patch_macs: int
    patch_macs_unclipped: int
    layers: tuple[LayerRow, ...]


@dataclass(frozen=True)
class MemoryReport:
    """Peak memory and MACs of one schedule (``split == 0``: per-layer, no patches).

    Byte counts are int8 activations; "stage" means the per-patch stage (units
    ``0 .. split - 1``). ``patch_*`` equal the per-layer values for a per-layer schedule.

    Fields:
        per_layer_peak_bytes / _layer: whole network run layer by layer, and the layer that sets it.
        patch_peak_bytes / _layer: this schedule, input frame streamed (the paper's numbers).
        patch_peak_with_input_bytes: this schedule with the whole input frame resident.
        patch_stage_peak_bytes: worst per-patch layer + the stage output buffer.
        layer_stage_peak_bytes: the per-layer stage (units ``split ..`` and the classifier).
        input_patch_size: largest clipped input window (h, w) of any tile.
        macs / patch_macs: whole network, per-layer / this schedule (tiles clipped).
        patch_macs_unclipped: every tile at its unbounded receptive field.
        stage_macs / stage_patch_macs / stage_patch_macs_unclipped: the same for the stage only.
        blocks: one row per unit, then the classifier.
    """

    spec_name: str
    input_hw: tuple[int, int]
    split: int
    grid: Optional[tuple[int, int]]
    per_layer_peak_bytes: int
    per_layer_peak_layer: str
    patch_peak_bytes: int
    patch_peak_layer: str
    patch_peak_with_input_bytes: int
    input_frame_bytes: int
    stage_output_bytes: int
    patch_stage_peak_bytes: int
    layer_stage_peak_bytes: int
    input_patch_size: tuple[int, int]
    macs: int
    patch_macs: int
    patch_macs_unclipped: int
    stage_macs: int
    stage_patch_macs: int
    stage_patch_macs_unclipped: int
    blocks: tuple[BlockRow, ...]
    convention: str = CONVENTION

    @property
    def mac_overhead(self) -> float:
        """Extra MACs of the schedule relative to per-layer, as a fraction (0.10 = +10 %)."""
        return self.patch_macs / self.macs - 1.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d['mac_overhead'] = self.mac_overhead
        return d


def _shape(c: int, hw: Sequence[int]) -> Shape:
    return (c, int(hw[0]), int(hw[1]))


def _span_len(span: tuple[int, int]) -> int:
    return span[1] - span[0]


def _per_layer_rows(units: Sequence[Unit], first_unit: int) -> list[BlockRow]:
    rows = []
    for unit in units[first_unit:]:
        layer_rows = []
        for k, layer in enumerate(unit.layers):
            live = _full_live(unit, k, layer)
            layer_rows.append(LayerRow(layer.name, layer.kind, _shape(layer.in_channels, layer.in_hw),
                                       _shape(layer.out_channels, layer.out_hw), live, live,
                                       layer.macs, layer.macs, layer.macs))
        rows.append(_block_row(unit, False, layer_rows))
    return rows


def _block_row(unit: Unit, per_patch: bool, layers: list[LayerRow]) -> BlockRow:
    return BlockRow(unit.index, unit.name, per_patch, unit.residual, _shape(unit.in_channels, unit.in_hw),
                    _shape(unit.out_channels, unit.out_hw), max(r.per_layer_bytes for r in layers),
                    max(r.patch_bytes for r in layers), sum(r.macs for r in layers),
                    sum(r.patch_macs for r in layers), sum(r.patch_macs_unclipped for r in layers),
                    tuple(layers))


def _unclipped_sums(units: Sequence[Unit], split: int, tiles: Sequence[AxisTile], axis: int
                    ) -> list[list[int]]:
    """Per unit and layer: the sum over tiles of the unbounded output-window length.

    Unbounded lengths depend only on the tile's output length, so equal tiles share a trace.
    """
    sums = [[0] * len(u.layers) for u in units[:split]]
    for g, n in Counter(_span_len(t.out_span) for t in tiles).items():
        for u, traced in enumerate(trace_axis(units, split, (0, g), axis, clip=False)):
            for k, layer in enumerate(traced.layers):
                sums[u][k] += n * _span_len(layer.out_span)
    return sums


def _axis_lengths(tiles: Sequence[AxisTile], u: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lengths along one axis, one entry per tile: unit input, layer inputs (tile, layer), outputs."""
    unit_in = np.array([_span_len(t.units[u].in_span) for t in tiles])
    lay_in = np.array([[_span_len(ly.in_span) for ly in t.units[u].layers] for t in tiles])
    lay_out = np.array([[_span_len(ly.out_span) for ly in t.units[u].layers] for t in tiles])
    return unit_in, lay_in, lay_out


def _patch_rows(tables: NetworkTables, plan: PatchPlan) -> tuple[list[BlockRow], int]:
    """Rows of the per-patch units and the stage peak with the input frame resident."""
    units, buf = tables.units, plan.stage_output_bytes
    un_r = _unclipped_sums(units, plan.split, plan.row_tiles, 0)
    un_c = _unclipped_sums(units, plan.split, plan.col_tiles, 1)
    rows, peak_with_frame = [], 0
    for u, unit in enumerate(units[:plan.split]):
        hu, h_in, h_out = _axis_lengths(plan.row_tiles, u)
        wu, w_in, w_out = _axis_lengths(plan.col_tiles, u)
        res_b = unit.in_channels * np.outer(hu, wu) if unit.residual else 0
        layer_rows = []
        for k, (layer, full) in enumerate(zip(unit.layers, tables.rows[u].layers)):
            in_b = layer.in_channels * np.outer(h_in[:, k], w_in[:, k])
            out_b = layer.out_channels * np.outer(h_out[:, k], w_out[:, k])
            first, last = k == 0, k == len(unit.layers) - 1
            live = int(np.max(layer_live_bytes(layer.kind, in_b, out_b, res_b, first, last)))
            if u == 0 and first:  # with the frame resident the stem reads its window in place
                live_frame = int(np.max(layer_live_bytes(layer.kind, 0 * in_b, out_b, res_b, first, last)))
            else:
                live_frame = live
            peak_with_frame = max(peak_with_frame, live_frame + tables.frame_bytes + buf)
            mpp = layer.macs_per_output_pixel()
            layer_rows.append(LayerRow(
                layer.name, layer.kind, full.in_shape, full.out_shape, full.per_layer_bytes, live + buf,
                full.macs, mpp * int(h_out[:, k].sum()) * int(w_out[:, k].sum()),
                mpp * un_r[u][k] * un_c[u][k]))
        rows.append(_block_row(unit, True, layer_rows))
    return rows, peak_with_frame


def _full_live(unit: Unit, k: int, layer: Layer) -> int:
    """Live bytes of layer ``k`` of ``unit`` on whole feature maps."""
    res_b = unit.in_channels * unit.in_hw[0] * unit.in_hw[1] if unit.residual else 0
    extra = layer.in_channels + layer.se_channels if layer.kind == 'se' else 0
    return int(layer_live_bytes(layer.kind, layer.in_bytes, layer.out_bytes, res_b, k == 0,
                                k == len(unit.layers) - 1, extra))


def _classifier_row(spec: ArchSpec, units: Sequence[Unit]) -> Optional[BlockRow]:
    """Global average pool + FC: memory rows 'pool' and 'fc'; MACs of the FC only."""
    if spec.classifier is None:
        return None
    last = units[-1]
    c, n = last.out_channels, spec.classifier.num_classes
    feat = (c, last.out_hw[0], last.out_hw[1])
    pool_b = c * last.out_hw[0] * last.out_hw[1] + c
    layers = (LayerRow('classifier.pool', 'pool', feat, (c, 1, 1), pool_b, pool_b, 0, 0, 0),
              LayerRow('classifier.fc', 'fc', (c, 1, 1), (n, 1, 1), c + n, c + n, c * n, c * n, c * n))
    return BlockRow(len(units), 'classifier', False, False, feat, (n, 1, 1), pool_b, pool_b,
                    c * n, c * n, c * n, layers)


def _argmax_layer(rows: Sequence[BlockRow], attr: str) -> tuple[int, str]:
    best, name = -1, ''
    for row in rows:
        for lr in row.layers:
            if getattr(lr, attr) > best:
                best, name = getattr(lr, attr), lr.name
    return best, name


@dataclass(frozen=True)
class NetworkTables:
    """Per-layer rows of one network at one input size, shared by the reports of many schedules."""

    spec_name: str
    input_hw: tuple[int, int]
    units: tuple[Unit, ...]
    rows: tuple[BlockRow, ...]  # one per unit, then the classifier if any
    frame_bytes: int
    per_layer_peak_bytes: int
    per_layer_peak_layer: str
    macs: int


def network_tables(spec: ArchSpec, input_hw: Union[None, int, Sequence[int]] = None) -> NetworkTables:
    """Per-layer memory and MACs of every unit (and the classifier) of ``spec``."""
    hw = normalize_input_hw(spec, input_hw)
    units = tuple(build_units(spec, hw))
    cls_row = _classifier_row(spec, units)
    rows = tuple(_per_layer_rows(units, 0) + ([cls_row] if cls_row is not None else []))
    peak, name = _argmax_layer(rows, 'per_layer_bytes')
    return NetworkTables(spec.name, hw, units, rows, spec.in_channels * hw[0] * hw[1], peak, name,
                         sum(r.macs for r in rows))


def memory_report(spec: ArchSpec, input_hw: Union[None, int, Sequence[int]] = None,
                  plan: Optional[PatchPlan] = None, tables: Optional[NetworkTables] = None) -> MemoryReport:
    """Memory and MACs of ``spec`` run per layer (``plan=None``) or with ``plan``.

    Args:
        spec: The network.
        input_hw: Input size; defaults to the plan's, else to ``spec.resolution``.
        plan: A :class:`PatchPlan` for ``spec``; None means the per-layer schedule.
        tables: :func:`network_tables` of ``spec`` at this input size (a search reuses them).
    """
    if plan is not None:
        if plan.spec_name != spec.name:
            raise PatchPlanError(f'plan was made for spec {plan.spec_name!r}, not {spec.name!r}')
        hw = plan.input_hw if input_hw is None else normalize_input_hw(spec, input_hw)
        if hw != plan.input_hw:
            raise PatchPlanError(f'input_hw={hw} differs from the plan\'s input_hw={plan.input_hw}; '
                                 f'make a plan for this input size')
    else:
        hw = normalize_input_hw(spec, input_hw)
    if tables is None:
        tables = network_tables(spec, hw)
    elif (tables.spec_name, tables.input_hw) != (spec.name, hw):
        raise PatchPlanError(f'tables are for {tables.spec_name!r} at {tables.input_hw}, not {spec.name!r} '
                             f'at {hw}; build them with network_tables(spec, input_hw)')
    t = tables
    if plan is None:
        return MemoryReport(spec.name, hw, 0, None, t.per_layer_peak_bytes, t.per_layer_peak_layer,
                            t.per_layer_peak_bytes, t.per_layer_peak_layer, t.per_layer_peak_bytes,
                            t.frame_bytes, 0, 0, t.per_layer_peak_bytes, hw, t.macs, t.macs, t.macs, 0, 0, 0,
                            t.rows)

    if plan.unit_names != tuple(u.name for u in t.units[:plan.split]):
        raise PatchPlanError(f'plan units {plan.unit_names} do not match the first {plan.split} units '
                             f'of {spec.name!r}; regenerate the plan')
    patch_rows, stage_with_frame = _patch_rows(t, plan)
    layer_rows = list(t.rows[plan.split:])
    rows = patch_rows + layer_rows
    stage_peak, _ = _argmax_layer(patch_rows, 'patch_bytes')
    layer_stage_peak = max((r.per_layer_bytes for r in layer_rows), default=0)
    patch_peak, patch_name = _argmax_layer(rows, 'patch_bytes')
    return MemoryReport(
        spec.name, hw, plan.split, plan.grid, t.per_layer_peak_bytes, t.per_layer_peak_layer, patch_peak,
        patch_name, max(stage_with_frame, layer_stage_peak), t.frame_bytes, plan.stage_output_bytes,
        stage_peak, layer_stage_peak, plan.input_patch_size, t.macs, sum(r.patch_macs for r in rows),
        sum(r.patch_macs_unclipped for r in rows), sum(r.macs for r in patch_rows),
        sum(r.patch_macs for r in patch_rows), sum(r.patch_macs_unclipped for r in patch_rows), tuple(rows))


def format_report(report: MemoryReport) -> str:
    """A per-block text table (kB = 1024 bytes) with the peaks and MACs underneath."""
    lines = [f'{"unit":<14}{"stage":<7}{"out shape":>16}{"per-layer kB":>14}{"patch kB":>10}'
             f'{"MACs M":>9}{"patch MACs M":>14}']
    for r in report.blocks:
        stage = 'patch' if r.per_patch else 'layer'
        lines.append(f'{r.name:<14}{stage:<7}{"x".join(map(str, r.out_shape)):>16}'
                     f'{r.per_layer_bytes / KB:>14.1f}{r.patch_bytes / KB:>10.1f}'
                     f'{r.macs / 1e6:>9.2f}{r.patch_macs / 1e6:>14.2f}')
    sched = 'per-layer' if report.split == 0 else f'split={report.split} grid={report.grid}'
    lines.append(f'{report.spec_name} @ {report.input_hw} {sched}: per-layer peak '
                 f'{report.per_layer_peak_bytes / KB:.1f} kB ({report.per_layer_peak_layer}), patch peak '
                 f'{report.patch_peak_bytes / KB:.1f} kB ({report.patch_peak_layer}; input frame streamed), '
                 f'{report.patch_peak_with_input_bytes / KB:.1f} kB with the frame resident; input patch '
                 f'{report.input_patch_size[0]}x{report.input_patch_size[1]}; MACs {report.macs / 1e6:.1f}M '
                 f'-> {report.patch_macs / 1e6:.1f}M ({100 * report.mac_overhead:+.1f} %)')
    return '\n'.join(lines)
