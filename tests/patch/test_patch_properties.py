"""Property tests over random small networks: the plan is exact, in bounds and consistent.

The strongest check executes a random network's per-patch stage with integer NumPy
convolutions twice, on whole maps with PyTorch's padding and tile by tile following
the plan, and requires the stitched output to equal the whole-map output exactly.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mcudet.arch import ArchSpec, BlockSpec, ConvSpec, build_units
from mcudet.patch import PatchPlan, make_patch_plan, memory_report
from tests.patch.helpers import brute_force_stage, make_weights, run_tiles, run_whole, small_cases

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# A fixed case with every feature: 7x7 and 5x5 kernels, strides, a dw-first residual block,
# an input that a 2x3 grid does not divide.
EVERYTHING = (ArchSpec('fixed', ConvSpec(3, 5, 2, 'relu'),
                       (BlockSpec(3, 7, 1, 1, act='relu'), BlockSpec(4, 3, 2, 2, act='relu'),
                        BlockSpec(4, 5, 3, 1, act='relu'), BlockSpec(2, 1, 2, 1, act='relu'))),
              (37, 29), 5, (2, 3))


def _check_geometry(units: list, plan: PatchPlan) -> None:
    h, w = plan.stage_out_hw
    cover = np.zeros((h, w), dtype=int)
    for tile in plan.tiles:
        rs, cs = tile.out_window.slices()
        cover[rs, cs] += 1
        prev = tile.input_window
        for uw, unit in zip(tile.units, units):
            assert uw.in_window == prev
            assert uw.in_window.contains(uw.layers[0].in_window)
            for lw, ly in zip(uw.layers, unit.layers):
                ih, iw = ly.in_hw
                oh, ow = ly.out_hw
                win, wout, (pt, pb, pl, pr) = lw.in_window, lw.out_window, lw.pads
                assert 0 <= win.r0 < win.r1 <= ih and 0 <= win.c0 < win.c1 <= iw, lw.name
                assert 0 <= wout.r0 < wout.r1 <= oh and 0 <= wout.c0 < wout.c1 <= ow, lw.name
                p = ly.kernel_size // 2
                assert all(0 <= x <= p for x in (pt, pb, pl, pr)), lw.name
                # Pads only where the window touches the border of the feature map.
                assert (pt == 0 or win.r0 == 0) and (pb == 0 or win.r1 == ih), lw.name
                assert (pl == 0 or win.c0 == 0) and (pr == 0 or win.c1 == iw), lw.name
                # Padded window + 'valid' conv with the layer's stride gives exactly the output window.
                k, s = ly.kernel_size, ly.stride
                assert (win.hw[0] + pt + pb - k) // s + 1 == wout.hw[0], lw.name
                assert (win.hw[1] + pl + pr - k) // s + 1 == wout.hw[1], lw.name
                assert wout.r0 * s - p == win.r0 - pt and wout.c0 * s - p == win.c0 - pl, lw.name
            for a, b in zip(uw.layers, uw.layers[1:]):
                assert b.in_window == a.out_window
            if uw.residual_window is not None:
                assert unit.residual and uw.residual_window == uw.out_window
                assert uw.in_window.contains(uw.residual_window)
            else:
                assert not unit.residual
            prev = uw.out_window
        assert prev == tile.out_window
    assert (cover == 1).all(), 'tiles must partition the stage output exactly'


@SETTINGS
@given(small_cases())
@example(EVERYTHING)
def test_plan_geometry(case: tuple) -> None:
    spec, hw, split, grid = case
    plan = make_patch_plan(spec, hw, grid, split)
    units = build_units(spec, hw)
    _check_geometry(units, plan)
    ph, pw = plan.input_patch_size
    assert ph == max(t.input_window.hw[0] for t in plan.tiles)
    assert pw == max(t.input_window.hw[1] for t in plan.tiles)


@SETTINGS
@given(small_cases(), st.integers(0, 2**31 - 1))
@example(EVERYTHING, 0)
def test_tiles_stitch_to_the_whole_map_result(case: tuple, seed: int) -> None:
    spec, hw, split, grid = case
    units = build_units(spec, hw)
    plan = make_patch_plan(spec, hw, grid, split)
    weights = make_weights(units[:split], seed)
    image = np.random.default_rng(seed + 1).integers(-128, 128, size=(3,) + hw)
    whole = run_whole(units[:split], weights, image)
    stitched, count = run_tiles(units, weights, image, plan)
    assert (count == 1).all()
    np.testing.assert_array_equal(stitched, whole)


@SETTINGS
@given(small_cases())
def test_plan_json_round_trip(case: tuple) -> None:
    spec, hw, split, grid = case
    plan = make_patch_plan(spec, hw, grid, split)
    back = PatchPlan.from_json(plan.to_json())
    assert back == plan and back.tiles == plan.tiles
    back.verify(spec)


@SETTINGS
@given(small_cases())
def test_memory_model_agrees_with_brute_force_over_tiles(case: tuple) -> None:
    spec, hw, split, grid = case
    plan = make_patch_plan(spec, hw, grid, split)
    report = memory_report(spec, plan=plan)
    brute = brute_force_stage(build_units(spec, hw), plan)
    for row in report.blocks[:split]:
        assert row.per_patch
        for ly in row.layers:
            assert (ly.patch_bytes - plan.stage_output_bytes, ly.patch_macs) == brute[ly.name]
            assert ly.patch_macs <= ly.patch_macs_unclipped
    units = build_units(spec, hw)
    if all(ly.kernel_size >= ly.stride for u in units for ly in u.layers):
        # Patches only add MACs when every input pixel is used. A 1x1 stride-2 layer skips
        # pixels, and tiles then skip computing them while the whole map does not.
        assert report.patch_macs >= report.macs
    assert report.patch_peak_bytes == max(report.patch_stage_peak_bytes, report.layer_stage_peak_bytes)


def test_one_tile_is_the_whole_map() -> None:
    spec, hw, split, _ = EVERYTHING
    plan = make_patch_plan(spec, hw, (1, 1), split)
    units = build_units(spec, hw)
    for uw, unit in zip(plan.tiles[0].units, units):
        for lw, ly in zip(uw.layers, unit.layers):
            p = ly.kernel_size // 2
            assert lw.in_window.hw == ly.in_hw and lw.out_window.hw == ly.out_hw
            assert all(x in (0, p) for x in lw.pads)
    report = memory_report(spec, plan=plan)
    assert report.patch_macs == report.macs


@pytest.mark.parametrize('grid', [(2, 3), (3, 2), (4, 4)])
def test_stitching_on_a_fixed_network(grid: tuple) -> None:
    spec, hw, split, _ = EVERYTHING
    test_tiles_stitch_to_the_whole_map_result.hypothesis.inner_test((spec, hw, split, grid), 7)
