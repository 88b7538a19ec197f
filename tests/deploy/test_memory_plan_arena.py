"""Running a graph from its planned arena, the way the generated C code will, with identical int8 results.

:func:`run_from_arena` keeps every activation in one byte array at the plan's offsets (tile
buffers per tile, the stage output written window by window, a stage view in its window of
the stage output), the streamed frame outside it;
scratch regions are filled with garbage before each step and dead buffers are scribbled over,
so a wrong lifetime, offset or overlap changes the result. :func:`overlapping_pairs` checks
every pair of buffers independently of :meth:`MemoryPlan.validate`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from mcudet.arch import zoo
from mcudet.deploy.ir import DTYPES, Graph
from mcudet.deploy.memory_plan import INPLACE_RULES, MemoryPlan, plan_memory
from mcudet.deploy.patch_exec import patch_stage, plan_from_graph
from mcudet.deploy.reference import eval_op, run
from mcudet.deploy.synthetic import graph_from_spec
from mcudet.patch import make_patch_plan, memory_report
from mcudet.patch.plan import Window
from tests.patch.helpers import small_cases

from .conftest import needs_tflm
from .test_se import SE_SPEC


def overlapping_pairs(plan: MemoryPlan) -> list[str]:
    """Every pair of buffers (and scratch regions) live at one step that share bytes, other than an
    in-place step's input and output at the declared offsets; plus buffers outside the arena."""
    problems = []
    regions = [(b.name, b.offset, b.offset + b.size, b.first, b.last) for b in plan.buffers.values()]
    if plan.scratch_in_arena:
        regions += [(f'scratch:{s.op}', s.scratch_offset, s.scratch_offset + s.scratch_bytes, s.index,
                     s.index) for s in plan.steps if s.scratch_bytes]
    aliases = {(a.src, a.dst): a for a in plan.aliases}
    for name, lo, hi, _, _ in regions:
        if lo < 0 or hi > plan.arena_bytes or lo % plan.alignment:
            problems.append(f'{name} [{lo}, {hi}) outside the {plan.arena_bytes}-byte arena or misaligned')
    for i, (na, la, ha, fa, ea) in enumerate(regions):
        for nb, lb, hb, fb, eb in regions[i + 1:]:
            if ea < fb or eb < fa or ha <= lb or hb <= la:
                continue
            alias = aliases.get((na, nb)) or aliases.get((nb, na))
            if alias is not None:
                src, dst = plan.buffers[alias.src], plan.buffers[alias.dst]
                if (dst.offset == src.offset - alias.delta and src.last == alias.step == dst.first):
                    continue
            problems.append(f'{na} [{la}, {ha}) {fa}..{ea} overlaps {nb} [{lb}, {hb}) {fb}..{eb}')
    return problems


def run_from_arena(graph: Graph, plan: MemoryPlan, inputs: Sequence[np.ndarray], seed: int = 0
                   ) -> list[np.ndarray]:
    """Execute ``graph`` with every activation at its planned place; returns the graph outputs."""
    rng = np.random.default_rng(seed)
    arena = rng.integers(0, 256, plan.arena_bytes, dtype=np.uint8)
    outside: dict[str, np.ndarray] = dict(zip(graph.inputs, inputs))
    for op in graph.ops:
        if op.name in plan.host_ops:
            outside[op.outputs[0]] = eval_op(graph, op, [outside[op.inputs[0]]])
    held: dict[str, Window] = {}  # tile buffers: the window they hold in the current tile

    def view(name: str, shape: tuple[int, ...]) -> np.ndarray:
        b = plan.buffers[name]
        dtype = np.dtype(DTYPES[graph.tensor(name).dtype])
        n = int(np.prod(shape)) * dtype.itemsize
        assert n <= b.size, f'{name}: {n} bytes do not fit its {b.size}-byte buffer'
        return arena[b.offset:b.offset + n].view(dtype).reshape(shape)

    def read(name: str, window) -> np.ndarray:
        t = graph.tensor(name)
        if t.is_const:
            return t.data
        if name in plan.stage_views:  # held in its window of the stage output
            return read(plan.split_tensor, window)
        if name in outside and name not in plan.buffers:
            full = outside[name]
        elif plan.buffers[name].role == 'tile':
            w = held[name]
            full = view(name, (1, *w.hw, t.shape[3]))
            return full if window is None else full[(slice(None), *window.slices(w), slice(None))]
        else:
            full = view(name, t.shape)
        return full if window is None else full[(slice(None), *window.slices(), slice(None))]

    def write(name: str, value: np.ndarray, window) -> None:
        b = plan.buffers[plan.split_tensor if name in plan.stage_views else name]
        if b.role == 'tile':
            held[name] = window
            view(name, value.shape)[...] = value
        elif b.role == 'stage_output':
            view(b.name, graph.tensor(b.name).shape)[(slice(None), *window.slices(), slice(None))] = value
        else:
            view(name, value.shape)[...] = value

    def scribble_dead(k: int, keep: tuple[str, ...] = ()) -> None:
        live = np.zeros(plan.arena_bytes, dtype=bool)
        for b in plan.buffers.values():
            if b.first <= k and (k < b.last or b.name in graph.outputs):
                live[b.offset:b.offset + b.size] = True
        for b in plan.buffers.values():
            if b.last == k and b.name not in graph.outputs and b.role not in keep:
                region = slice(b.offset, b.offset + b.size)
                dead = ~live[region]
                arena[region][dead] = rng.integers(0, 256, int(dead.sum()), dtype=np.uint8)

    def step(s, tile=None) -> None:
        op = graph.op(s.op)
        if plan.scratch_in_arena and s.scratch_bytes:
            arena[s.scratch_offset:s.scratch_offset + s.scratch_bytes] = rng.integers(
                0, 256, s.scratch_bytes, dtype=np.uint8)
        if tile is None:
            value = eval_op(graph, op, [read(t, None) for t in op.inputs])
            write(s.output, value, None)
            return
        uw = tile.units[s.unit]
        if s.layer is not None:
            lw = uw.layers[s.layer]
            args = [read(op.inputs[0], lw.in_window)] + [read(t, None) for t in op.inputs[1:]]
            write(s.output, eval_op(graph, op, args, pads=lw.pads), lw.out_window)
        else:  # the unit's residual ADD: the shortcut's residual window and the project output
            shortcut = stage.units[s.unit].ops[0].inputs[0]
            args = [read(t, uw.residual_window if t == shortcut else uw.layers[-1].out_window)
                    for t in op.inputs]
            write(s.output, eval_op(graph, op, args), uw.out_window)

    for name in plan.input_tensors:
        if name in plan.buffers:
            view(name, graph.tensor(name).shape)[...] = outside[name]
    body = plan.steps[:plan.num_stage_steps]
    stage = patch_stage(graph, plan.split_tensor) if body else None
    if body:
        for tile in plan.patch_plan.tiles:
            held.clear()
            for s in body:
                step(s, tile)
                scribble_dead(s.index, keep=('input', 'stage_output'))  # they outlive the tile
        scribble_dead(body[-1].index)
    for s in plan.steps[plan.num_stage_steps:]:
        step(s)
        scribble_dead(s.index)
    return [read(t, None).copy() for t in graph.outputs]



def spec_of(name: str):
    return SE_SPEC if name == 'se-net' else zoo.get_spec(name)


def check(plan: MemoryPlan) -> None:
    problems = overlapping_pairs(plan)
    assert not problems, f'{plan.graph_name}: ' + '; '.join(problems[:5])
    plan.validate()


# ---------------------------------------------------------------------- running from the arena
CASES = [('mbv2-w0.35', (48, 40), None, None), ('mbv2-w0.35', (48, 40), 5, 2),
         ('mbv2-w0.35', (48, 40), 3, (2, 3)),
         ('se-net', (32, 28), None, None), ('se-net', (32, 28), 2, 2),
         ('mcunet-in0', (48, 48), None, None), ('mcunet-in0', (48, 48), 4, 3)]


@pytest.mark.parametrize('rules', [INPLACE_RULES, ('depthwise', 'reshape')],
                         ids=['all-rules', 'depthwise-only'])
@pytest.mark.parametrize('resident', [False, True])
@pytest.mark.parametrize('name, hw, split, grid', CASES)
def test_graph_runs_from_the_arena_bit_exact(name: str, hw, split, grid, resident: bool, rules) -> None:
    spec = spec_of(name)
    for float_input in (False, True):
        graph = graph_from_spec(spec, hw, seed=1, float_input=float_input)
        rng = np.random.default_rng(0)
        x = (rng.uniform(-1, 1, (1, *hw, 3)).astype(np.float32) if float_input
             else rng.integers(-128, 128, (1, *hw, 3)).astype(np.int8))
        plan = None
        if split is not None:  # a float input adds a QUANTIZE unit: trace the plan from the graph
            last_unit = make_patch_plan(spec, hw, grid, split).unit_names[-1]
            tensor = [op for op in graph.ops if op.group == last_unit][-1].outputs[0]
            plan = plan_from_graph(graph, tensor, grid)
        mp = plan_memory(graph, plan, input_resident=resident, inplace=rules)
        check(mp)
        assert {a.rule for a in mp.aliases} <= set(rules)
        assert mp.host_ops == (('quantize',) if float_input else ())
        got = run_from_arena(graph, mp, [x])
        assert np.array_equal(got[0], run(graph, [x])[0]), f'{name} {split} {grid} float={float_input}'
        assert (mp.input_tensors[0] in mp.buffers) == resident


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_cases())
def test_random_specs_plan_validly(case) -> None:
    spec, hw, split, grid = case
    graph = graph_from_spec(spec, hw, seed=3)
    x = np.random.default_rng(0).integers(-128, 128, (1, *hw, 3)).astype(np.int8)
    plan = make_patch_plan(spec, hw, grid, split)
    for resident in (False, True):
        check(plan_memory(graph, plan, input_resident=resident))
        mp = plan_memory(graph, plan, input_resident=resident, alignment=1)
        check(mp)
        assert mp.total_bytes >= mp.lower_bound_bytes
    assert np.array_equal(run_from_arena(graph, plan_memory(graph, plan), [x])[0], run(graph, [x])[0])


# MCUDET_PLAN_SWEEP=N runs N derandomized cases instead of 30 random ones (a survey: 3000 take ~4 min).
SWEEP = int(os.environ.get('MCUDET_PLAN_SWEEP', '0'))


@settings(max_examples=SWEEP or 30, derandomize=bool(SWEEP), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(small_cases())
def test_random_specs_plan_within_the_analytic_peak(case) -> None:
    spec, hw, split, grid = case
    graph = graph_from_spec(spec, hw, seed=3)
    plan = make_patch_plan(spec, hw, grid, split)
    report = memory_report(spec, hw, plan)
    for resident in (False, True):
        # byte alignment: odd tensor sizes would otherwise add up to 3 bytes per live buffer
        mp = plan_memory(graph, plan, input_resident=resident, alignment=1)
        bound = report.patch_peak_with_input_bytes if resident else report.patch_peak_bytes
        # The analytic model runs every depthwise in place for free; the kernel declares a row ring.
        assert mp.total_bytes <= bound + mp.kernel_scratch_bytes, (mp.summary(), bound)
        if mp.total_bytes > bound + mp.scratch_bytes:
            # only where the planner gave a depthwise its own output, in place costing more (its ring)
            outside = [s for s in mp.steps if s.kind == 'depthwise_conv2d' and s.in_place is None]
            assert outside, (mp.summary(), mp.table(), bound)


# ---------------------------------------------------------------------- vww.tflite
@needs_tflm
def test_vww_plans_run_from_the_arena(vww_path: Path) -> None:
    from mcudet.deploy.tflite_reader import read_tflite
    from mcudet.deploy.transforms import fold_pads

    graph = fold_pads(read_tflite(vww_path))
    x = np.random.default_rng(0).uniform(-1, 1, (1, 80, 80, 3)).astype(np.float32)
    want = run(graph, [x])[0]
    split = graph.op('depthwise_conv2d_7').outputs[0]  # TinyEngine's first 5 layers
    for plan, resident, target in ((None, False, 85_000), (plan_from_graph(graph, split, 2), False, 62_352),
                                   (plan_from_graph(graph, split, 2), True, 62_352 + 19_200)):
        mp = plan_memory(graph, plan, input_resident=resident)
        check(mp)
        assert mp.host_ops == ('quantize_0',) and mp.input_bytes == 19_200
        assert mp.total_bytes < target, mp.summary()
        assert np.array_equal(run_from_arena(graph, mp, [x])[0], want)
