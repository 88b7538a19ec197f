"""Patch-based execution of an integer graph, following a :class:`~mcudet.patch.plan.PatchPlan`.

The per-patch stage is a prefix of the graph's ops ending at a *split tensor*. It must
be a chain of window ops (conv, depthwise, pad, pooling, elementwise QUANTIZE) in which
an ADD may close a residual unit (its shortcut is an earlier tensor of the chain). The
stage is cut into units: a residual unit is the ops from the shortcut to its ADD;
other consecutive ops sharing a non-empty :attr:`Op.group` form one unit (a lowered
ArchSpec block), the rest one unit per op (imported ``.tflite`` files).

:func:`plan_from_graph` walks every tile's output window back through the stage with
the interval arithmetic of :mod:`mcudet.patch.receptive` (generalised to any padding:
TFLite SAME, PyTorch ``k // 2``, explicit PAD ops), producing the same ``PatchPlan``
type that the planner, the memory model and the C generator read. For a graph lowered
from an ArchSpec with symmetric padding it equals ``make_patch_plan(spec, ...)``.

:func:`run_patched` runs the stage tile by tile with the reference kernels (a tile's
out-of-image taps are skipped, exactly as in the whole-map op), stitches the stage
output, and runs the remaining ops layer by layer: the int8 result is identical to
:func:`mcudet.deploy.reference.run` for every grid and split.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Optional, Union

import numpy as np

from mcudet.patch.plan import PatchPlan, normalize_grid
from mcudet.patch.receptive import (
    AxisLayer,
    AxisTile,
    AxisUnit,
    PatchPlanError,
    clip_window,
    input_span,
    split_even,
)

from .ir import Graph, Op
from .reference import check_input, eval_op

Span = tuple[int, int]
WINDOW_KINDS = ('conv2d', 'depthwise_conv2d', 'average_pool2d', 'max_pool2d', 'pad', 'quantize')


@dataclass(frozen=True)
class StageUnit:
    """Ops of one unit of the per-patch stage; ``add`` closes a residual (``shortcut_first``:
    the shortcut is the ADD's first input)."""

    name: str
    ops: tuple[Op, ...]
    add: Optional[Op] = None
    shortcut_first: bool = False


@dataclass(frozen=True)
class PatchStage:
    """The per-patch prefix of a graph: ops ``0 .. num_ops - 1``, ending at ``split_tensor``."""

    graph: Graph
    input_tensor: str
    split_tensor: str
    num_ops: int
    units: tuple[StageUnit, ...]


def _chain_input(op: Op) -> str:
    return op.inputs[0]


def patch_stage(graph: Graph, split_tensor: str) -> PatchStage:
    """Check that ops up to ``split_tensor`` can run per patch and cut them into units.

    Raises PatchPlanError naming the op that prevents it and what to do instead.
    """
    if not graph.finalized:
        graph.finalize()
    producer = graph.producer(split_tensor)
    if producer is None:
        raise PatchPlanError(f'split tensor {split_tensor!r} is not produced by an op of {graph.name!r}')
    n = graph.ops.index(producer) + 1
    prefix = graph.ops[:n]
    first_in = _chain_input(prefix[0])
    if first_in not in graph.inputs:
        raise PatchPlanError(f'the per-patch stage must start at a graph input; {prefix[0].label()} reads '
                             f'{first_in!r}')
    chain = [first_in]
    residual_at: dict[int, tuple[int, bool]] = {}  # add op index -> (chain index of shortcut, first?)
    for i, op in enumerate(prefix):
        if op.kind == 'add':
            a, b = op.inputs
            if chain[-1] not in (a, b) or a == b or (b if a == chain[-1] else a) not in chain[:-1]:
                raise PatchPlanError(f'{op.label()}: a per-patch ADD must add an earlier tensor of the chain '
                                     f'(a residual) to the previous op output; use a split before it')
            shortcut = b if a == chain[-1] else a
            residual_at[i] = (chain.index(shortcut), shortcut == a)
        elif op.kind not in WINDOW_KINDS:
            raise PatchPlanError(f'{op.label()} has no patch rule (it needs the whole map or is not '
                                 f'spatial); split before it, at or before tensor {chain[-1]!r}')
        elif _chain_input(op) != chain[-1]:
            raise PatchPlanError(f'{op.label()}: reads {_chain_input(op)!r}, not the previous op output '
                                 f'{chain[-1]!r}; only chains with residual ADDs run per patch')
        if op.kind == 'pad' and (op.attrs.pads[0] != (0, 0) or op.attrs.pads[3] != (0, 0)):
            raise PatchPlanError(f'{op.label()}: pads batch or channels; only spatial padding runs per patch')
        chain.append(op.outputs[0])
    inside = set(chain[:-1]) - set(graph.inputs)
    for later in graph.ops[n:]:
        leaked = inside & set(later.inputs)
        if leaked:
            raise PatchPlanError(f'{later.label()} (after the split) reads {sorted(leaked)[0]!r} from '
                                 f'inside the per-patch stage; only the split tensor may cross the cut')
    if inside & set(graph.outputs):
        raise PatchPlanError(f'graph output {sorted(inside & set(graph.outputs))[0]!r} lies inside the stage')
    return PatchStage(graph, first_in, split_tensor, n, _units(prefix, residual_at))


def _units(prefix: Sequence[Op], residual_at: dict[int, tuple[int, bool]]) -> tuple[StageUnit, ...]:
    spans = sorted((start, end) for end, (start, _) in residual_at.items())  # ops start..end-1 + add at end
    for (_, e0), (s1, _) in zip(spans, spans[1:]):
        if s1 < e0 + 1:
            raise PatchPlanError(f'nested or overlapping residuals around {prefix[e0].label()}; '
                                 f'split before it')
    for start, end in spans:
        inner = [op for op in prefix[start:end] if op.kind == 'add']
        if inner:
            raise PatchPlanError(f'{inner[0].label()} lies inside the residual of {prefix[end].label()}')
    units: list[StageUnit] = []
    i = 0
    starts = dict(spans)
    while i < len(prefix):
        if i in starts:
            end = starts[i]
            ops = tuple(prefix[i:end])
            groups = {op.group for op in ops + (prefix[end],)}
            name = (groups.pop() if len(groups) == 1 and '' not in groups
                    else f'{ops[0].name}..{prefix[end].name}')
            units.append(StageUnit(name, ops, prefix[end], residual_at[end][1]))
            i = end + 1
            continue
        j = i + 1
        group = prefix[i].group
        while (group and j < len(prefix) and j not in starts and prefix[j].group == group
               and prefix[j].kind != 'add'):
            j += 1
        units.append(StageUnit(group or prefix[i].name, tuple(prefix[i:j])))
        i = j
    return tuple(units)


def split_points(graph: Graph) -> list[str]:
    """Every tensor at which the graph can be cut into a per-patch stage and a per-layer rest."""
    points = []
    for op in graph.ops:
        try:
            patch_stage(graph, op.outputs[0])
        except PatchPlanError:
            if op.kind not in WINDOW_KINDS + ('add',):
                break
            continue
        points.append(op.outputs[0])
    return points


# ---------------------------------------------------------------------- receptive fields
def _geometry(op: Op, axis: int) -> tuple[int, int, int]:
    """(effective kernel, stride, padding before) of a stage op along spatial ``axis``."""
    a = op.attrs
    if op.kind == 'pad':
        return 1, 1, a.pads[1 + axis][0]
    if op.kind == 'quantize':
        return 1, 1, 0
    dilation = a.dilation[axis] if op.kind in ('conv2d', 'depthwise_conv2d') else 1
    return (a.kernel[axis] - 1) * dilation + 1, a.stride[axis], a.padding.axis(axis)[0]


def window_input_span(out: Span, kernel: int, stride: int, pad_before: int, in_size: int
                      ) -> tuple[Span, tuple[int, int]]:
    """:func:`mcudet.patch.receptive.input_span` for any ``pad_before`` (not only ``kernel // 2``).

    Returns the input interval clipped to ``[0, in_size)`` and the (before, after) taps
    outside the map that the window op skips.
    """
    (lo, hi), _ = input_span(out, kernel, stride, None)
    shift = kernel // 2 - pad_before
    return clip_window(lo + shift, hi + shift, in_size)


def _layer_kind(op: Op) -> str:
    if op.kind == 'conv2d':
        return 'pw' if op.attrs.kernel == (1, 1) else 'conv'  # the names of mcudet.arch.graph
    return 'dw' if op.kind == 'depthwise_conv2d' else op.kind


def _trace(stage: PatchStage, out: Span, axis: int) -> tuple[AxisUnit, ...]:
    g = stage.graph
    need = out
    traced = []
    for index in reversed(range(len(stage.units))):
        unit = stage.units[index]
        unit_out = need
        layers = []
        for op in reversed(unit.ops):
            kernel, stride, before = _geometry(op, axis)
            size = g.tensor(op.inputs[0]).shape[1 + axis]
            span, pad = window_input_span(need, kernel, stride, before, size)
            layers.append(AxisLayer(op.name, _layer_kind(op), span, pad, need))
            need = span
        residual = unit_out if unit.add is not None else None
        if residual is not None:
            need = (min(need[0], unit_out[0]), max(need[1], unit_out[1]))
        traced.append(AxisUnit(index, unit.name, need, unit_out, residual, tuple(reversed(layers))))
    return tuple(reversed(traced))


def plan_from_graph(graph: Graph, split_tensor: str, grid: Union[int, Sequence[int]]) -> PatchPlan:
    """A PatchPlan for the ops up to ``split_tensor`` on a ``grid`` of tiles of that tensor."""
    stage = patch_stage(graph, split_tensor)
    grid = normalize_grid(grid)
    out_shape = graph.tensor(split_tensor).shape
    in_shape = graph.tensor(stage.input_tensor).shape
    if len(out_shape) != 4:
        raise PatchPlanError(f'split tensor {split_tensor!r} has shape {out_shape}; expected NHWC')
    tiles = []
    for axis, parts in enumerate(grid):
        if parts > out_shape[1 + axis]:
            raise PatchPlanError(f'grid={grid} is larger than the {out_shape[1]}x{out_shape[2]} split tensor '
                                 f'{split_tensor!r}')
        tiles.append(tuple(AxisTile(i, span, _trace(stage, span, axis))
                           for i, span in enumerate(split_even(out_shape[1 + axis], parts))))
    return PatchPlan(graph.name, len(stage.units), grid, tuple(in_shape[1:3]), tuple(out_shape[1:3]),
                     out_shape[3], tuple(u.name for u in stage.units), tiles[0], tiles[1])


# ---------------------------------------------------------------------- execution
def _rows_cols(window) -> tuple[slice, slice, slice, slice]:
    rs, cs = window
    return (slice(None), rs, cs, slice(None))


def run_stage(stage: PatchStage, plan: PatchPlan, x: np.ndarray) -> np.ndarray:
    """Run the per-patch stage tile by tile on the stage input ``x``; returns the stitched split tensor."""
    g = stage.graph
    if tuple(u.name for u in stage.units) != plan.unit_names or plan.spec_name != g.name:
        raise PatchPlanError(f'plan for {plan.spec_name!r} (units {plan.unit_names}) does not match the '
                             f'stage of {g.name!r} ending at {stage.split_tensor!r}; rebuild it with '
                             f'plan_from_graph')
    out_t = g.tensor(stage.split_tensor)
    out = np.zeros(out_t.shape, dtype=np.int8)
    written = np.zeros(out_t.shape[1:3], dtype=np.int64)
    for tile in plan.tiles:
        origin = tile.input_window
        h = x[_rows_cols(origin.slices())]
        for uw, unit in zip(tile.units, stage.units):
            unit_in, unit_origin = h, origin
            for lw, op in zip(uw.layers, unit.ops):
                h = eval_op(g, op, [h[_rows_cols(lw.in_window.slices(origin))]], pads=lw.pads)
                origin = lw.out_window
                if h.shape[1:3] != lw.out_window.hw:  # a plan/graph mismatch, never expected
                    raise PatchPlanError(f'{op.label()}: tile ({tile.row}, {tile.col}) produced '
                                         f'{h.shape[1:3]}, the plan says {lw.out_window.hw}')
            if unit.add is not None:
                shortcut = unit_in[_rows_cols(uw.residual_window.slices(unit_origin))]
                args = [shortcut, h] if unit.shortcut_first else [h, shortcut]
                h = eval_op(g, unit.add, args)
        out[_rows_cols(tile.out_window.slices())] = h
        written[tile.out_window.slices()] += 1
    if np.any(written != 1):
        raise PatchPlanError('the tiles of the plan do not cover the split tensor exactly once')
    return out


Inputs = Union[Sequence[np.ndarray], Mapping[str, np.ndarray]]


def run_patched(graph: Graph, inputs: Inputs, plan: PatchPlan, split_tensor: str,
                return_all: bool = False) -> Union[list[np.ndarray], dict[str, np.ndarray]]:
    """Run ``graph`` with its stage up to ``split_tensor`` patch by patch, the rest layer by layer."""
    stage = patch_stage(graph, split_tensor)
    if not isinstance(inputs, Mapping):
        inputs = dict(zip(graph.inputs, inputs))
    values = {n: t.data for n, t in graph.tensors.items() if t.is_const}
    values.update({name: check_input(graph, name, inputs[name]) for name in graph.inputs})
    values[split_tensor] = run_stage(stage, plan, values[stage.input_tensor])
    for op in graph.ops[stage.num_ops:]:
        values[op.outputs[0]] = eval_op(graph, op, [values[t] for t in op.inputs])
    return values if return_all else [values[t] for t in graph.outputs]


__all__ = ['PatchStage', 'StageUnit', 'patch_stage', 'plan_from_graph', 'run_patched', 'run_stage',
           'split_points', 'window_input_span']
