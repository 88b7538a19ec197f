"""Patch-based execution of integer graphs: identical int8 results to layer-by-layer execution.

For vww.tflite (explicit PAD ops, TFLite SAME padding, residual ADDs, a float input
through QUANTIZE), for graphs lowered from ArchSpecs (whose traced plan must equal
``make_patch_plan``), and for random chains of window ops with every kind of padding.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from mcudet.arch import zoo
from mcudet.arch.graph import build_units
from mcudet.deploy.builder import GraphBuilder
from mcudet.deploy.ir import Graph
from mcudet.deploy.ops import Add, Pad, Padding, Pool2D, Quantize
from mcudet.deploy.patch_exec import patch_stage, plan_from_graph, run_patched, split_points
from mcudet.deploy.reference import run
from mcudet.deploy.synthetic import graph_from_spec
from mcudet.patch.plan import make_patch_plan
from mcudet.patch.receptive import PatchPlanError
from tests.patch.helpers import small_cases

from .conftest import needs_tflm

GRIDS = [(1, 1), (2, 2), (3, 3), (2, 3)]


def assert_patched_equals_whole(graph: Graph, inputs: list[np.ndarray], split: str, grid,
                                whole: dict[str, np.ndarray]) -> None:
    plan = plan_from_graph(graph, split, grid)
    got = run_patched(graph, inputs, plan, split, return_all=True)
    where = f'{graph.name}: split at {split!r}, grid {grid}'
    assert np.array_equal(got[split], whole[split]), f'{where}: the stitched split tensor differs'
    for t in graph.outputs:
        assert np.array_equal(got[t], whole[t]), f'{where}: graph output {t!r} differs'


# ---------------------------------------------------------------------- vww.tflite
@pytest.fixture
def vww(vww_path: Path, images: Path):
    from mcudet.deploy.tflite_reader import read_tflite

    from .test_vww import load_crop

    graph = read_tflite(vww_path)
    x = load_crop(images / 'person_crop.png')
    return graph, [x], run(graph, [x], return_all=True)


@needs_tflm
def test_vww_split_points(vww) -> None:
    graph, _, _ = vww
    points = split_points(graph)
    assert len(points) == 34  # everything before the TRANSPOSE / MEAN head
    shapes = [graph.tensor(p).shape[1:3] for p in points]
    assert shapes[0] == (80, 80) and shapes[-1] == (3, 3)
    with pytest.raises(PatchPlanError, match='transpose_58.*no patch rule'):
        patch_stage(graph, graph.ops[-3].outputs[0])


@needs_tflm
@pytest.mark.parametrize('grid', GRIDS)
@pytest.mark.parametrize('split_index', [3, 7, 9, 13])
def test_vww_patch_by_patch_is_exact(vww, split_index: int, grid) -> None:
    graph, inputs, whole = vww
    split = split_points(graph)[split_index]
    assert_patched_equals_whole(graph, inputs, split, grid, whole)


@needs_tflm
@pytest.mark.slow
def test_vww_patch_by_patch_every_split(vww) -> None:
    graph, inputs, whole = vww
    for split in split_points(graph):
        for grid in GRIDS:
            if min(graph.tensor(split).shape[1:3]) >= max(grid):
                assert_patched_equals_whole(graph, inputs, split, grid, whole)


@needs_tflm
def test_vww_plan_windows(vww) -> None:
    graph, _, _ = vww
    split = split_points(graph)[7]  # after the stride-2 depthwise: 20x20x48
    plan = plan_from_graph(graph, split, 2)
    assert plan.stage_out_hw == (20, 20) and plan.input_hw == (80, 80)
    # Explicit PAD (1, 1) then stride-2 3x3 convs: a 10x10 output tile reads 45x45 input pixels.
    assert plan.input_patch_size == (45, 45)
    pad_layer = plan.tile(0, 0).units[1].layers[0]
    assert pad_layer.kind == 'pad' and pad_layer.pads == (1, 0, 1, 0)


# ---------------------------------------------------------------------- graphs lowered from specs
@pytest.mark.parametrize('name, hw', [('mbv2-w0.35', (48, 40)), ('mcunet-in0', (48, 48))])
def test_spec_graph_plan_equals_make_patch_plan_and_is_exact(name: str, hw) -> None:
    spec = zoo.get_spec(name)
    graph = graph_from_spec(spec, hw, seed=3)
    units = build_units(spec, hw)
    x = np.random.default_rng(0).integers(-128, 128, size=(1, *hw, 3)).astype(np.int8)
    whole = run(graph, [x], return_all=True)
    for split in (1, 2, 4, 6):
        split_tensor = [op for op in graph.ops if op.group == units[split - 1].name][-1].outputs[0]
        for grid in GRIDS:
            plan = plan_from_graph(graph, split_tensor, grid)
            assert plan == make_patch_plan(spec, hw, grid, split), f'{name} split {split} grid {grid}'
            plan.verify(spec)
            assert_patched_equals_whole(graph, [x], split_tensor, grid, whole)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=small_cases(max_grid=3))
def test_random_spec_graphs(case) -> None:
    spec, hw, split, grid = case
    graph = graph_from_spec(spec, hw, seed=split)
    units = build_units(spec, hw)
    split_tensor = [op for op in graph.ops if op.group == units[split - 1].name][-1].outputs[0]
    plan = plan_from_graph(graph, split_tensor, grid)
    assert plan == make_patch_plan(spec, hw, grid, split)
    x = np.random.default_rng(split).integers(-128, 128, size=(1, *hw, 3)).astype(np.int8)
    assert_patched_equals_whole(graph, [x], split_tensor, grid, run(graph, [x], return_all=True))


# ---------------------------------------------------------------------- random chains, every padding
def random_chain(seed: int) -> tuple[Graph, list[np.ndarray]]:
    """float input -> QUANTIZE -> a random chain of PAD / conv / depthwise / pools / residual blocks."""
    rng = np.random.default_rng(seed)
    hw = (int(rng.integers(9, 30)), int(rng.integers(9, 30)))
    b = GraphBuilder(f'chain{seed}')
    f = b.input('image', (1, *hw, 3), dtype='float32')
    x = b.op('quantize', 'quantize', [f], Quantize(), 0.02, 3)
    c = 3
    for i in range(int(rng.integers(3, 8))):
        t = b.graph.tensor(x)
        h, w = t.shape[1:3]
        choice = rng.integers(6)
        k = int(rng.choice([1, 2, 3, 5]))
        s = int(rng.choice([1, 1, 2])) if min(h, w) > 4 else 1
        padding = [Padding.symmetric((k, k)), Padding.same((h, w), (k, k), (s, s)), Padding(),
                   Padding(*(int(v) for v in rng.integers(0, k, size=4)))][int(rng.integers(4))]
        if (h + padding.top + padding.bottom - k) < 0 or (w + padding.left + padding.right - k) < 0:
            padding = Padding.symmetric((k, k))
            s = 1
        if choice == 0:
            p = tuple((int(a), int(b_)) for a, b_ in rng.integers(0, 3, size=(2, 2)))
            x = b.op('pad', f'pad{i}', [x], Pad(((0, 0),) + p + ((0, 0),)), t.scale, t.zero_point)
        elif choice == 1 and k <= min(h, w):
            kind = 'average_pool2d' if rng.random() < 0.5 else 'max_pool2d'
            pool_pad = Padding.same((h, w), (k, k), (s, s)) if rng.random() < 0.5 else Padding()
            x = b.op(kind, f'pool{i}', [x], Pool2D((k, k), (s, s), pool_pad, 'none'), t.scale, t.zero_point)
        elif choice == 2:  # residual block: 1x1 expand, kxk depthwise (stride 1), 1x1 project, ADD
            e = 2 * c
            y = b.conv2d(f'b{i}.expand', x, rng.integers(-127, 128, (e, 1, 1, c)).astype(np.int8), None,
                         np.full(e, 0.01, np.float32), 0.05, -128, activation='relu6')
            k = int(rng.choice([2, 3, 5]))  # SAME keeps the shape for any k, symmetric only for odd k
            pad_k = Padding.same((h, w), (k, k), (1, 1)) if k == 2 or rng.random() < 0.5 else \
                Padding.symmetric((k, k))
            y = b.depthwise_conv2d(f'b{i}.dw', y, rng.integers(-127, 128, (1, k, k, e)).astype(np.int8),
                                   rng.integers(-500, 500, e).astype(np.int32), np.full(e, 0.02, np.float32),
                                   0.1, -128, padding=pad_k, activation='relu')
            y = b.conv2d(f'b{i}.project', y, rng.integers(-127, 128, (c, 1, 1, e)).astype(np.int8), None,
                         np.full(c, 0.01, np.float32), 0.1, 2)
            inputs = [y, x] if rng.random() < 0.5 else [x, y]
            x = b.op('add', f'b{i}.add', inputs, Add(), 0.12, -5)
        else:
            co = int(rng.integers(2, 6))
            dil = 2 if rng.random() < 0.2 and min(h, w) > 2 * k else 1
            if dil == 2:
                padding = Padding.symmetric((k, k), (2, 2))
            if rng.random() < 0.5:
                x = b.conv2d(f'conv{i}', x, rng.integers(-127, 128, (co, k, k, c)).astype(np.int8),
                             rng.integers(-900, 900, co).astype(np.int32), np.full(co, 0.01, np.float32),
                             0.2, -10, (s, s), padding, (dil, dil), 'relu6')
                c = co
            else:
                w = rng.integers(-127, 128, (1, k, k, c)).astype(np.int8)
                x = b.depthwise_conv2d(f'dw{i}', x, w, None, np.full(c, 0.02, np.float32), 0.1, 0, (s, s),
                                       padding, (dil, dil))
    b.output(x)
    image = rng.uniform(-1, 1, size=(1, *hw, 3)).astype(np.float32)
    return b.build(), [image]


@pytest.mark.parametrize('seed', range(12))
def test_random_chains_every_split_and_grid(seed: int) -> None:
    graph, inputs = random_chain(seed)
    whole = run(graph, inputs, return_all=True)
    points = split_points(graph)
    assert points[-1] == graph.outputs[0]
    for split in points:
        for grid in GRIDS:
            if min(graph.tensor(split).shape[1:3]) >= max(grid):
                assert_patched_equals_whole(graph, inputs, split, grid, whole)


def test_split_inside_a_residual_is_refused() -> None:
    for seed in range(12):
        graph, _ = random_chain(seed)
        adds = [i for i, op in enumerate(graph.ops) if op.kind == 'add']
        if adds:
            inside = graph.ops[adds[0] - 2].outputs[0]  # the depthwise output of the residual block
            with pytest.raises(PatchPlanError, match='from inside the per-patch stage'):
                patch_stage(graph, inside)
            assert inside not in split_points(graph)
            return
    pytest.fail('no random chain has a residual block')


def test_grid_larger_than_the_map_is_refused() -> None:
    graph, _ = random_chain(1)
    split = split_points(graph)[-1]
    h = graph.tensor(split).shape[1]
    with pytest.raises(PatchPlanError, match='larger than'):
        plan_from_graph(graph, split, (h + 1, 1))
