"""Patch-based execution in C: the per-patch stage of a graph, run tile by tile with the windows,
halos and border pads of its PatchPlan (mcudet.deploy.patch_exec), equals the reference
layer-by-layer result bit for bit, for every split and grid; any kernel size, every padding
kind, explicit PAD ops, residual ADDs and in-place depthwise tiles included."""
from __future__ import annotations

import numpy as np
import pytest

from mcudet.arch import zoo
from mcudet.arch.graph import build_units
from mcudet.deploy.cbuild import Program, Runtime, emit_patch_stage
from mcudet.deploy.ir import Graph
from mcudet.deploy.patch_exec import plan_from_graph, split_points
from mcudet.deploy.reference import run
from mcudet.deploy.synthetic import graph_from_spec
from tests.deploy.test_patch_exec import random_chain

GRIDS = [(1, 1), (2, 2), (3, 3), (2, 3)]


def _windows_valid(plan) -> bool:
    return all(min(w.hw) >= 0 for t in plan.tiles for u in t.units for lw in u.layers
               for w in (lw.in_window, lw.out_window))


def _check_stage(runtime: Runtime, cases: list[tuple[Graph, np.ndarray, list[str]]], grids=GRIDS,
                 inplace_modes=(True, False)) -> int:
    """Emit every (graph, split, grid, in-place mode) into one program; compare the stitched maps."""
    prog = Program()
    checks = []
    for graph, x, splits in cases:
        whole = run(graph, [x], return_all=True)
        xbuf = prog.const(x.astype('<f4') if x.dtype == np.float32 else x)
        xv = prog.map(xbuf, *x.shape[1:], itemsize=x.dtype.itemsize)
        for split in splits:
            shape = graph.tensor(split).shape
            for grid in grids:
                if min(shape[1:3]) < max(grid):
                    continue
                plan = plan_from_graph(graph, split, grid)
                assert _windows_valid(plan), f'{graph.name} split {split!r} grid {grid}: a crossed window'
                for inplace in inplace_modes:
                    out = prog.map(prog.buffer(int(np.prod(shape))), *shape[1:])
                    calls = emit_patch_stage(prog, graph, plan, split, xv, out, inplace=inplace)
                    checks.append((f'{graph.name} split {split!r} grid {grid} inplace={inplace}', out,
                                   whole[split], calls))
    res = runtime.run(prog)
    errors = []
    for label, out, want, calls in checks:
        if np.any(res.status[calls] != 0):
            errors.append(f'{label}: kernel status {sorted(set(res.status[calls].tolist()))}')
        elif not np.array_equal(res.view(out), want):
            errors.append(f'{label}: {np.count_nonzero(res.view(out) != want)} of {want.size} values differ')
    assert not errors, '\n'.join(errors[:20])
    return len(checks)


@pytest.mark.parametrize('seeds', [range(0, 6), range(6, 12)], ids=['chains0-5', 'chains6-11'])
def test_random_chains_every_split_and_grid(runtime: Runtime, seeds) -> None:
    """float input -> QUANTIZE -> PAD / conv / depthwise (k 1..5, dilation) / pools / residual blocks."""
    cases = []
    for seed in seeds:
        graph, inputs = random_chain(seed)
        cases.append((graph, inputs[0], split_points(graph)))
    assert _check_stage(runtime, cases) > 50


def _spec_case(name: str, hw: tuple[int, int], splits: tuple[int, ...], seed: int):
    spec = zoo.get_spec(name)
    graph = graph_from_spec(spec, hw, seed=seed)
    units = build_units(spec, hw)
    tensors = [[op for op in graph.ops if op.group == units[s - 1].name][-1].outputs[0] for s in splits]
    x = np.random.default_rng(seed).integers(-128, 128, size=(1, *hw, 3)).astype(np.int8)
    return graph, x, tensors


def test_spec_graph_stages(runtimes) -> None:
    """MCUNetV2-style inverted residual blocks (1x1 expand, 3x3 / 5x5 / 7x7 depthwise, residual ADD)."""
    cases = [_spec_case('mcunet-in0', (48, 48), (1, 2, 4, 6), 3),
             _spec_case('mbv2-w0.35', (48, 40), (2, 4), 5)]
    assert _check_stage(runtimes['dsp-asan'], cases) > 40
    assert _check_stage(runtimes['portable'], cases, inplace_modes=(True,)) > 20


@pytest.mark.slow
def test_random_chains_many(runtimes) -> None:
    cases = []
    for seed in range(12, 60):
        graph, inputs = random_chain(seed)
        cases.append((graph, inputs[0], split_points(graph)))
    for name in ('dsp-asan', 'portable-asan'):
        assert _check_stage(runtimes[name], cases) > 500
