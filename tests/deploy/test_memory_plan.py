"""The memory planner against the analytic model, the paper, TFLite Micro, and its own API.

The analytic bound is :mod:`mcudet.patch.memory` (the paper's convention): the arena may
exceed it by at most the scratch the plan declares. MobileNetV2 (width 1.0, 224x224) under
the paper's in-place rules reproduces the paper's activation figures exactly: 1372 kB per
layer, 171.5 kB with 4x4 patches over the first 5 units. Without in-place steps, with the
input resident and scratch outside the arena, the greedy placement reproduces TFLite Micro's
activation plans (figures.md). Running plans from the arena: ``test_memory_plan_arena.py``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mcudet.arch import zoo
from mcudet.deploy.memory_plan import (
    PAPER_INPLACE,
    KernelCall,
    MemoryPlanError,
    auto_plan,
    default_scratch_bytes,
    plan_memory,
)
from mcudet.deploy.patch_exec import plan_from_graph, split_points
from mcudet.deploy.synthetic import graph_from_spec
from mcudet.patch import make_patch_plan, memory_report

from .conftest import needs_tflm
from .test_memory_plan_arena import check, spec_of


# ---------------------------------------------------------------------- the analytic bound
@pytest.mark.parametrize('name, hw, schedules', [
    ('mbv2-w0.35-r144', None, [(5, 3), (5, 4), (4, 2), (3, 2)]),
    ('mcunet-in1', None, [(3, 2), (4, 3), (6, 4)]),
    ('mcunetv2-vww', (96, 96), [(4, 2), (3, 3)]),
    ('se-net', (32, 28), [(2, 2)]),
])
def test_arena_stays_within_the_analytic_peak_plus_declared_scratch(name: str, hw, schedules) -> None:
    spec = spec_of(name)
    graph = graph_from_spec(spec, hw)
    for rules in (None, PAPER_INPLACE):
        kw = {} if rules is None else {'inplace': rules}
        layer = plan_memory(graph, input_resident=True, **kw)
        check(layer)
        assert layer.total_bytes <= memory_report(spec, hw).per_layer_peak_bytes + layer.scratch_bytes
        for split, grid in schedules:
            plan = make_patch_plan(spec, hw, grid, split)
            report = memory_report(spec, hw, plan)
            bounds = ((False, report.patch_peak_bytes), (True, report.patch_peak_with_input_bytes))
            for resident, bound in bounds:
                mp = plan_memory(graph, plan, input_resident=resident, **kw)
                check(mp)
                where = f'{name} split {split} grid {grid} resident={resident} rules={rules}'
                assert mp.total_bytes <= bound + mp.scratch_bytes, f'{where}: {mp.summary()} vs {bound}'
                assert mp.activation_peak_bytes <= bound, where


def test_mobilenet_v2_reproduces_the_paper_figures() -> None:
    """Paper convention (figures.md): 1372 kB per layer, 171.5 kB (172 kB) for 4x4 patches, split 5."""
    spec = zoo.get_spec('mbv2-w1.0')
    graph = graph_from_spec(spec)
    layer = plan_memory(graph, input_resident=True, inplace=PAPER_INPLACE)
    check(layer)
    assert layer.activation_peak_bytes == 1_404_928 == 1372 * 1024
    assert layer.peak_op == 'blocks.1.expand'
    patched = plan_memory(graph, make_patch_plan(spec, 224, 4, 5), inplace=PAPER_INPLACE)
    check(patched)
    assert patched.activation_peak_bytes == 175_616  # 171.5 kB: block 4's expand in the per-layer stage
    # the kernels' scratch on top: only the busiest step's (block 4's projection, its widened pixels);
    # an in-place depthwise keeps a ring of one 16-channel slice (block 4: 2 rows x 28 x 16, not x 192)
    steps = {s.op: s for s in patched.steps}
    assert steps['blocks.4.dw'].in_place == 'depthwise' and steps['blocks.4.dw'].scratch_bytes == 2 * 28 * 16
    peak = patched.steps[patched.peak_step]
    assert patched.total_bytes - patched.activation_peak_bytes == peak.scratch_bytes
    # the default rules also run expansions in place: below the paper's convention
    assert plan_memory(graph, input_resident=True).total_bytes < layer.activation_peak_bytes


def test_mbv2_w035_r144_beats_tflite_micro_four_times() -> None:
    spec = zoo.get_spec('mbv2-w0.35-r144')
    graph = graph_from_spec(spec)
    per_layer = plan_memory(graph)
    assert per_layer.total_bytes < 311_040  # TFLite Micro's activation plan (figures.md)
    patched = plan_memory(graph, make_patch_plan(spec, None, 4, 5))
    check(patched)
    assert patched.total_bytes <= 78_000 < 311_040 / 4 + 300


# ---------------------------------------------------------------------- TFLite Micro
def test_without_in_place_the_placer_matches_tflite_micro_on_mbv2() -> None:
    graph = graph_from_spec(zoo.get_spec('mbv2-w0.35-r144'))
    mp = plan_memory(graph, input_resident=True, inplace=(), scratch_in_arena=False)
    check(mp)
    assert mp.arena_bytes == 311_040  # 72x72x48 + 36x36x48, TFLite Micro's activation plan
    assert not mp.aliases


@needs_tflm
def test_without_in_place_the_placer_matches_tflite_micro_on_vww(vww_path: Path) -> None:
    from mcudet.deploy.tflite_reader import read_tflite

    graph = read_tflite(vww_path)  # PAD ops kept, float input quantized in the graph, as TFLite Micro runs it
    mp = plan_memory(graph, input_resident=True, inplace=(), scratch_in_arena=False, int8_frame=False)
    check(mp)
    assert mp.arena_bytes == 161_472 and mp.input_bytes == 76_800
    assert any('fold_pads' in note for note in mp.notes)


# ---------------------------------------------------------------------- auto
def test_auto_plan_finds_the_smallest_schedule() -> None:
    spec = zoo.get_spec('mbv2-w0.35')
    graph = graph_from_spec(spec, (64, 64))
    result = auto_plan(graph, max_grid=3)
    check(result.plan)
    exhaustive = [plan_memory(graph).total_bytes]
    for split in split_points(graph):
        for n in (2, 3):
            if min(graph.tensor(split).shape[1:3]) >= n:
                plan = plan_from_graph(graph, split, n)
                exhaustive.append(plan_memory(graph, plan, split_tensor=split).total_bytes)
    assert result.plan.total_bytes == min(exhaustive)
    assert len(result.candidates) == len(exhaustive)
    assert all(c.lower_bound_bytes <= c.total_bytes for c in result.candidates if c.total_bytes is not None)


# ---------------------------------------------------------------------- API
def test_report_and_options() -> None:
    graph = graph_from_spec(zoo.get_spec('mbv2-w0.35'), (48, 40))
    mp = plan_memory(graph)
    assert 'streamed (outside the arena)' in mp.summary()
    with pytest.raises(MemoryPlanError, match='outside the arena'):
        mp.offset('image')
    assert mp.offset(graph.outputs[0]) == mp.buffers[graph.outputs[0]].offset
    json.dumps(mp.to_dict())
    assert 'resident in the arena' in plan_memory(graph, input_resident=True).summary()
    flash = mp.flash
    assert flash.weights == sum(t.nbytes for t in graph.tensors.values() if t.is_const and t.dtype == 'int8')
    assert flash.biases == sum(t.nbytes for t in graph.tensors.values() if t.dtype == 'int32')
    assert flash.requant == 8 * sum(graph.tensor(op.outputs[0]).shape[-1] for op in graph.ops
                                    if op.kind in ('conv2d', 'depthwise_conv2d'))
    calls = []

    def fixed(call: KernelCall) -> int:
        calls.append(call)
        return 100 if call.op.kind == 'depthwise_conv2d' else default_scratch_bytes(call)

    custom = plan_memory(graph, scratch_fn=fixed)
    assert {s.scratch_bytes for s in custom.steps if s.kind == 'depthwise_conv2d'} == {100}
    assert any(c.in_place == 'depthwise' for c in calls)
    separate = plan_memory(graph, scratch_in_arena=False)
    check(separate)
    assert separate.total_bytes == separate.arena_bytes + separate.scratch_bytes
    assert all(s.scratch_offset == 0 for s in separate.steps if s.scratch_bytes)
    none = plan_memory(graph, inplace=())
    check(none)
    assert not none.aliases and none.total_bytes > mp.total_bytes
    with pytest.raises(MemoryPlanError, match='unknown'):
        plan_memory(graph, inplace=('everything',))
    with pytest.raises(MemoryPlanError, match='patch plan is for'):
        plan_memory(graph, make_patch_plan(zoo.get_spec('mbv2-w0.5'), (48, 40), 2, 3))


def test_pads_are_reported() -> None:
    from mcudet.deploy.builder import GraphBuilder
    from mcudet.deploy.ops import Pad

    b = GraphBuilder('padded')
    x = b.input('x', (1, 8, 8, 4), 0.1, 0)
    p = b.op('pad', 'pad', [x], Pad(((0, 0), (1, 1), (1, 1), (0, 0))), 0.1, 0)
    w = np.ones((1, 3, 3, 4), np.int8)
    y = b.depthwise_conv2d('dw', p, w, None, 0.01, 0.1, 0, padding=None)
    b.output(y)
    mp = plan_memory(b.build())
    check(mp)
    assert any('fold_pads' in n for n in mp.notes)
