"""The schedule of a graph and the buffers it needs: what the placer packs into the arena.

Per layer, every op runs once on whole maps, in graph order. With a patch plan, the ops of
the per-patch stage form a *tile body* that runs once per tile: its intermediate tensors
are tile buffers (as large as the largest tile's window, reused by every tile) and its
last op writes the tile's window of the full-size stage output, which stays alive across
all tiles; the ops after the split run per layer. Schedule positions ``0 .. S - 1`` are
the tile body (each position stands for that op in every tile), the rest follow.

Lifetimes are closed intervals of positions ``[first, last]``: from the producing step
to the last reading step (graph outputs: to the end; the stage output and a resident
input frame: across the whole tile body, since every tile writes or reads them).

When the stage ends with a residual ADD (and the 'elementwise' rule is enabled), the op
before the ADD (the project conv) has no tile buffer: each tile writes its output straight
into the tile's window of the stage output, and the ADD then runs in place there (reading
the kept residual). This is the paper's fused add (``design/figures.md``: the project counts
``in + max(out, residual)``), done with the runtime's in-place ADD instead of a fused kernel.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from mcudet.patch.plan import PatchPlan, Window
from mcudet.patch.receptive import PatchPlanError

from ..ir import DTYPES, Graph, Op
from ..patch_exec import PatchStage, patch_stage
from .kernels import KernelCall, ScratchFn, align, inplace_rule

DTYPES_BYTES = {name: np.dtype(t).itemsize for name, t in DTYPES.items()}


class MemoryPlanError(ValueError):
    """A plan that cannot be made or that breaks its own rules; the message names the tensor or op."""


@dataclass(frozen=True)
class Step:
    """One op of the schedule (per patch: that op for every tile, windows from the PatchPlan).

    Args:
        index: Position in the schedule.
        op: Op name; ``kind`` its kind.
        per_patch: Part of the tile body.
        inputs: Activation tensors the op reads (the streamed frame included).
        output: The tensor it writes.
        unit, layer: Where the op sits in the PatchPlan (``plan.tiles[t].units[unit].layers[layer]``);
            ``layer`` is None for the unit's residual ADD (its window: the unit's ``out_window``).
        in_place: In-place rule used ('depthwise', 'pointwise', 'expand', 'elementwise') or None.
        in_place_of: The input whose buffer the output overwrites.
        scratch_bytes: Scratch the kernel needs (largest tile).
        scratch_offset: Where that scratch lies (in the arena, or in the separate scratch region).
        live_bytes: Arena bytes occupied while the step runs (its scratch included when in the arena).
    """

    index: int
    op: str
    kind: str
    per_patch: bool
    inputs: tuple[str, ...]
    output: str
    unit: Optional[int] = None
    layer: Optional[int] = None
    in_place: Optional[str] = None
    in_place_of: Optional[str] = None
    scratch_bytes: int = 0
    scratch_offset: Optional[int] = None
    live_bytes: int = 0


@dataclass(frozen=True)
class BufferSpec:
    """A tensor that needs arena memory: role, bytes (largest tile for tile buffers), lifetime."""

    name: str
    role: str
    shape: tuple[int, ...]
    size: int
    first: int
    last: int


@dataclass(frozen=True)
class AliasCandidate:
    """``dst`` may take ``src``'s memory at ``step``: ``offset(dst) = offset(src) - delta``.

    """

    step: int
    src: str
    dst: str
    rule: str
    delta: int


@dataclass
class Problem:
    """Everything the placer needs, derived once from the graph, the plan and the contract."""

    graph: Graph
    steps: list[Step]
    buffers: dict[str, BufferSpec]
    candidates: list[AliasCandidate]
    scratch: list[dict[Optional[str], int]]  # per step: in-place rule (None: not in place) -> bytes
    frames: tuple[str, ...]
    input_resident: bool
    external: tuple[str, ...]
    host_ops: tuple[str, ...]
    split_tensor: Optional[str]
    patch_plan: Optional[PatchPlan]
    num_stage_steps: int
    alignment: int
    notes: list[str] = field(default_factory=list)
    #: Tile-body tensors held in the stage output (no buffer of their own), see :func:`stage_view_tensor`.
    stage_views: tuple[str, ...] = ()
    #: In-place steps that hold whatever the placement (the stage-ending ADD over a stage view).
    fixed: list[AliasCandidate] = field(default_factory=list)

    def worthwhile(self) -> list[AliasCandidate]:
        """The candidates whose in-place step does not raise the busiest of the steps it touches.

        Per candidate, alone against the live bytes (as :meth:`lower_bound`): at its step the
        output shares the input's bytes, but the kernel may need more scratch (an in-place
        depthwise's row ring). Where that costs more than a separate output, it is left out.
        """
        live, need = self._live()
        return [c for c in self.candidates if self._in_place_need(c, live) <= need[c.step]]

    def _live(self) -> tuple[list[int], list[int]]:
        """Per step: the live buffers' bytes, and those plus the scratch when nothing optional is in place."""
        n = len(self.steps)
        live = [0] * n
        for b in self.buffers.values():
            for k in range(b.first, b.last + 1):
                live[k] += align(b.size, self.alignment)
        rule_at = {c.step: c.rule for c in self.fixed}
        return live, [live[k] + self.scratch[k][rule_at.get(k)] for k in range(n)]

    def _in_place_need(self, c: AliasCandidate, live: list[int]) -> int:
        """Bytes of candidate ``c``'s step when it runs in place: the two buffers' union and its scratch."""
        s = align(self.buffers[c.src].size, self.alignment)
        d = align(self.buffers[c.dst].size, self.alignment)
        overlap = max(0, s + d - max(s + c.delta, d))
        return live[c.step] - overlap + self.scratch[c.step][c.rule]

    def lower_bound(self) -> tuple[int, int]:
        """(bytes, step): the busiest step's live bytes plus scratch, with its cheapest in-place
        choice; no placement under these rules needs fewer bytes."""
        live, need = self._live()
        for c in self.candidates:
            need[c.step] = min(need[c.step], self._in_place_need(c, live))
        best = max(range(len(need)), key=need.__getitem__)
        return need[best], best


def input_boundary(graph: Graph, int8_frame: bool) -> tuple[dict[str, str], tuple[str, ...]]:
    """Map each graph input to the frame tensor that the arena sees, and the ops the host runs.

    With ``int8_frame``, a float32 input read only by one QUANTIZE is quantized at the source
    (camera driver, decoder): the frame is the int8 output and the QUANTIZE leaves the schedule.
    """
    frames, host = {}, []
    for name in graph.inputs:
        users = graph.consumers(name)
        if (int8_frame and graph.tensor(name).dtype == 'float32' and len(users) == 1
                and users[0].kind == 'quantize' and users[0].outputs[0] not in graph.outputs):
            frames[name] = users[0].outputs[0]
            host.append(users[0].name)
        else:
            frames[name] = name
    return frames, tuple(host)


def find_split_tensor(graph: Graph, plan: PatchPlan) -> str:
    """The tensor at which ``plan``'s per-patch stage ends (matched by unit names and shape)."""
    if plan.spec_name != graph.name:
        raise MemoryPlanError(f'patch plan is for {plan.spec_name!r}, graph is {graph.name!r}; '
                              f'make it with plan_from_graph(graph, split_tensor, grid)')
    for op in graph.ops:
        t = op.outputs[0]
        shape = graph.tensor(t).shape
        if len(shape) != 4 or tuple(shape[1:3]) != plan.stage_out_hw or shape[3] != plan.stage_out_channels:
            continue
        try:
            stage = patch_stage(graph, t)
        except PatchPlanError:
            continue
        if tuple(u.name for u in stage.units) == plan.unit_names:
            return t
    raise MemoryPlanError(f'no tensor of {graph.name!r} ends a per-patch stage with units {plan.unit_names}; '
                          f'pass split_tensor= or rebuild the plan with plan_from_graph')


def _shape(shape: tuple[int, ...], window: Optional[Window]) -> tuple[int, ...]:
    return shape if window is None else (shape[0], *window.hw, shape[3])


@dataclass
class _Call:
    """One call of a step (one tile, or the whole map): per-input read window, output window, pads."""

    reads: list[Optional[Window]]
    out: Optional[Window]
    pads: tuple[int, int, int, int]


Where = dict[str, tuple[int, Optional[int]]]


def _tile_calls(stage: PatchStage, plan: PatchPlan
                ) -> tuple[dict[str, list[_Call]], dict[str, list[Window]], Where]:
    """Per stage op: one call per tile; per stage tensor: the window its buffer holds per tile."""
    calls: dict[str, list[_Call]] = {}
    holds: dict[str, list[Window]] = {}
    where: Where = {}
    for u, unit in enumerate(stage.units):
        for li, op in enumerate(unit.ops):
            where[op.name] = (u, li)
        if unit.add is not None:
            where[unit.add.name] = (u, None)
    for tile in plan.tiles:
        for uw, unit in zip(tile.units, stage.units):
            for lw, op in zip(uw.layers, unit.ops):
                calls.setdefault(op.name, []).append(_Call([lw.in_window], lw.out_window, lw.pads))
                holds.setdefault(op.outputs[0], []).append(lw.out_window)
            if unit.add is not None:
                h = uw.layers[-1].out_window
                reads = [uw.residual_window, h] if unit.shortcut_first else [h, uw.residual_window]
                calls.setdefault(unit.add.name, []).append(_Call(reads, uw.out_window, (0, 0, 0, 0)))
                holds.setdefault(unit.add.outputs[0], []).append(uw.out_window)
    return calls, holds, where


def stage_view_tensor(graph: Graph, stage: PatchStage, plan: PatchPlan, rules: tuple[str, ...]
                      ) -> Optional[str]:
    """The tensor a stage-ending residual ADD adds to its shortcut, if it can live in the stage output.

    That tensor (the project conv's output) then needs no tile buffer: every tile writes it into
    its window of the stage output and the ADD overwrites it there in place (mcu_add_s8 with the
    output the same view as that input; the 'elementwise' rule). It must be int8, read by the ADD
    only, of the ADD output's shape, and every tile's window of it must be the ADD's window.
    """
    unit = stage.units[-1]
    add = unit.add
    if add is None or add.outputs[0] != stage.split_tensor or not unit.ops:
        return None
    t = unit.ops[-1].outputs[0]
    if (t not in add.inputs or add.inputs.count(t) != 1 or t in graph.outputs
            or [op.name for op in graph.consumers(t)] != [add.name]):
        return None
    src, out = graph.tensor(t), graph.tensor(add.outputs[0])
    if src.dtype != 'int8' or out.dtype != 'int8' or tuple(src.shape) != tuple(out.shape):
        return None
    which = add.inputs.index(t)
    for tile in plan.tiles:
        uw = tile.units[-1]
        w = uw.layers[-1].out_window
        shape = _shape(src.shape, w)
        rule = inplace_rule(add, which, shape, shape, src.dtype, rules)
        if w != uw.out_window or rule != ('elementwise', 0):
            return None
    return t


def build_problem(graph: Graph, plan: Optional[PatchPlan], split_tensor: Optional[str], input_resident: bool,
                  int8_frame: bool, scratch_fn: ScratchFn, rules: tuple[str, ...], alignment: int) -> Problem:
    """Schedule, buffers, lifetimes, in-place candidates and scratch sizes of one configuration."""
    if not graph.finalized:
        graph.finalize()
    frame_of, host_ops = input_boundary(graph, int8_frame)
    frames = tuple(frame_of.values())
    ops: list[Op] = [op for op in graph.ops if op.name not in host_ops]
    stage, calls, holds, where = None, {}, {}, {}
    body = 0
    view = None
    if plan is not None:
        split_tensor = split_tensor or find_split_tensor(graph, plan)
        stage = patch_stage(graph, split_tensor)
        if tuple(u.name for u in stage.units) != plan.unit_names:
            raise MemoryPlanError(f'patch plan units {plan.unit_names} do not match the stage of '
                                  f'{graph.name!r} ending at {split_tensor!r}; rebuild it with '
                                  f'plan_from_graph')
        calls, holds, where = _tile_calls(stage, plan)
        view = stage_view_tensor(graph, stage, plan, rules)
        body = sum(1 for op in graph.ops[:stage.num_ops] if op.name not in host_ops)
        if body == 0:
            raise MemoryPlanError(f'the per-patch stage ending at {split_tensor!r} holds only the input '
                                  f'QUANTIZE ({", ".join(host_ops)}); split later')
    else:
        split_tensor = None
    n = len(ops)
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for i, op in enumerate(ops):
        for t in op.inputs:
            if not graph.tensor(t).is_const:
                last[t] = i
        first[op.outputs[0]] = i
        last.setdefault(op.outputs[0], i)
    for t in graph.outputs:
        last[t] = n - 1
    buffers: dict[str, BufferSpec] = {}
    external = []
    for t in frames:
        if t not in last:
            continue
        shape = graph.tensor(t).shape
        if input_resident:
            end = max(last[t], body - 1)
            buffers[t] = BufferSpec(t, 'input', shape, graph.tensor(t).nbytes, 0, end)
        else:
            external.append(t)
    for i, op in enumerate(ops):
        t = op.outputs[0]
        tensor = graph.tensor(t)
        if t == split_tensor:
            buffers[t] = BufferSpec(t, 'stage_output', tensor.shape, tensor.nbytes, 0, last[t])
        elif t == view:
            continue  # held in the stage output (stage_view_tensor)
        elif i < body:
            c = tensor.shape[3]
            big = max(holds[t], key=lambda w: w.area)
            buffers[t] = BufferSpec(t, 'tile', (1, *big.hw, c), big.area * c * DTYPES_BYTES[tensor.dtype], i,
                                    last[t])
        else:
            buffers[t] = BufferSpec(t, 'tensor', tensor.shape, tensor.nbytes, i, last[t])
    steps, candidates, scratch, fixed = [], [], [], []
    for i, op in enumerate(ops):
        per_patch = i < body
        unit, layer = where.get(op.name, (None, None))
        acts = tuple(t for t in op.inputs if not graph.tensor(t).is_const)
        steps.append(Step(i, op.name, op.kind, per_patch, acts, op.outputs[0], unit, layer))
        op_calls = calls[op.name] if per_patch else [_Call([None] * len(op.inputs), None, _pads(op))]
        if op.outputs[0] == view:
            cands = []  # writes the stage output: no in-place option
        elif view is not None and op.outputs[0] == split_tensor:
            cands = [AliasCandidate(i, view, split_tensor, 'elementwise', 0)]
            fixed += cands
        else:
            cands = _candidates(graph, op, i, op_calls, holds, buffers, last, rules, alignment, per_patch)
            candidates += cands
        scratch.append(_scratch(graph, op, op_calls, scratch_fn, [None] + [c.rule for c in cands]))
    notes = []
    pads = [op.name for op in ops if op.kind == 'pad']
    if pads:
        notes.append(f'{len(pads)} PAD ops ({", ".join(pads[:3])}{", ..." if len(pads) > 3 else ""}) '
                     f'materialize padded copies; fold_pads(graph) merges them into the convolutions')
    if host_ops:
        notes.append(f'{", ".join(host_ops)} quantizes the float input at the source: the frame is int8')
    if view is not None:
        notes.append(f'{graph.producer(view).name} writes each tile into the stage output and '
                     f'{graph.producer(split_tensor).name} adds the residual there in place (no tile buffer '
                     f'for {view!r})')
    return Problem(graph, steps, buffers, candidates, scratch, frames, input_resident, tuple(external),
                   host_ops, split_tensor, plan, body, alignment, notes,
                   (view,) if view is not None else (), fixed)


def _pads(op: Op) -> tuple[int, int, int, int]:
    padding = getattr(op.attrs, 'padding', None)
    return padding.as_tuple() if padding is not None else (0, 0, 0, 0)


def _candidates(graph: Graph, op: Op, step: int, op_calls: list[_Call], holds: dict[str, list[Window]],
                buffers: dict[str, BufferSpec], last: dict[str, int], rules: tuple[str, ...],
                alignment: int, per_patch: bool) -> list[AliasCandidate]:
    """In-place options of one step: inputs that die here and whose buffer the output may take.

    Per patch, an input read in a sub-window of its tile buffer runs in place only under
    'depthwise' (its output goes dense to the start of the buffer, see ``kernels``).
    """
    dst = buffers[op.outputs[0]]
    if dst.role in ('stage_output', 'input'):
        return []
    out_t = graph.tensor(op.outputs[0])
    found = []
    for which, src_name in enumerate(op.inputs):
        src = buffers.get(src_name)
        if (src is None or last[src_name] != step
                or src_name in graph.outputs or op.inputs.count(src_name) != 1
                or (src.role == 'tile') != (dst.role == 'tile')):
            continue
        src_t = graph.tensor(src_name)
        deltas, rule = [], None
        for t, call in enumerate(op_calls):
            window = call.reads[which]
            in_shape, out_shape = _shape(src_t.shape, window), _shape(out_t.shape, call.out)
            got = inplace_rule(op, which, in_shape, out_shape, src_t.dtype, rules)
            if got is None or rule not in (None, got[0]):
                break
            if per_patch and window != holds[src_name][t] and got[0] != 'depthwise':
                break  # the op reads a sub-window of the buffer: only the depthwise kernel takes a crop
            rule = got[0]
            deltas.append(got[1])
        else:
            if rule is not None:
                delta = align(max(deltas), alignment)
                found.append(AliasCandidate(step, src_name, op.outputs[0], rule, delta))
    return found


def _scratch(graph: Graph, op: Op, op_calls: list[_Call], scratch_fn: ScratchFn,
             rules: list[Optional[str]]) -> dict[Optional[str], int]:
    in_t, out_t = graph.tensor(op.inputs[0]), graph.tensor(op.outputs[0])
    out = {}
    for rule in rules:
        out[rule] = max(int(scratch_fn(KernelCall(op, _shape(in_t.shape, c.reads[0]),
                                                  _shape(out_t.shape, c.out), c.pads, rule)))
                        for c in op_calls)
    return out
