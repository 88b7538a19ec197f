"""PatchPlan: shape of the schedule, JSON round trip, argument errors."""
from __future__ import annotations

import json

import pytest

from mcudet.arch import ArchSpec, BlockSpec, ConvSpec, mobilenet_v2
from mcudet.patch import PatchPlan, PatchPlanError, Window, make_patch_plan
from tests.patch.helpers import mbv2_rd


@pytest.fixture(scope='module')
def mbv2_plan() -> PatchPlan:
    return make_patch_plan(mobilenet_v2(1.0, 224), 224, (4, 4), 5)


def test_mbv2_plan_shape(mbv2_plan: PatchPlan) -> None:
    p = mbv2_plan
    assert (p.split, p.grid, p.input_hw, p.stage_out_hw, p.stage_out_channels) == (5, (4, 4), (224, 224),
                                                                                   (28, 28), 32)
    assert p.unit_names == ('stem', 'blocks.0', 'blocks.1', 'blocks.2', 'blocks.3')
    assert len(p.tiles) == 16 and p.tile(2, 1).row == 2 and p.tile(2, 1).col == 1
    assert p.input_patch_size == (75, 75)
    assert p.stage_output_bytes == 32 * 28 * 28


def test_mbv2_rd_input_patch_is_63() -> None:
    assert make_patch_plan(mbv2_rd(), 224, 4, 4).input_patch_size == (63, 63)


def test_interior_tile_has_no_pads_and_the_full_receptive_field(mbv2_plan: PatchPlan) -> None:
    tile = mbv2_plan.tile(1, 2)
    assert tile.out_window == Window(7, 14, 14, 21)
    assert tile.input_window == Window(43, 118, 99, 174) and tile.input_window.hw == (75, 75)
    assert all(ly.pads == (0, 0, 0, 0) for u in tile.units for ly in u.layers)


def test_corner_tile_pads_only_at_the_image_border(mbv2_plan: PatchPlan) -> None:
    tile = mbv2_plan.tile(0, 3)
    stem = tile.units[0].layers[0]
    assert stem.in_window == Window(0, 62, 155, 224)
    # Top pad only: with an even input and stride 2, PyTorch's right pad column is never read.
    assert stem.pads == (1, 0, 0, 0)
    dw = tile.units[1].layers[0]
    assert dw.name == 'blocks.0.dw' and dw.pads == (1, 0, 0, 1)


def test_layer_windows_chain(mbv2_plan: PatchPlan) -> None:
    """Each layer reads what its predecessor wrote; each unit reads what the previous unit wrote."""
    for tile in mbv2_plan.tiles:
        prev = tile.input_window
        for unit in tile.units:
            assert unit.in_window == prev
            assert unit.in_window.contains(unit.layers[0].in_window)
            for a, b in zip(unit.layers, unit.layers[1:]):
                assert b.in_window == a.out_window
            assert unit.layers[-1].out_window == unit.out_window
            if unit.residual_window is not None:
                assert unit.residual_window == unit.out_window
            prev = unit.out_window
        assert prev == tile.out_window


def test_window_slices_relative_to_a_buffer() -> None:
    w, origin = Window(5, 9, 2, 4), Window(3, 12, 1, 6)
    assert w.slices() == (slice(5, 9), slice(2, 4))
    assert w.slices(origin) == (slice(2, 6), slice(1, 3))
    assert w.hw == (4, 2) and w.area == 8 and origin.contains(w) and not w.contains(origin)


def test_json_round_trip(mbv2_plan: PatchPlan) -> None:
    text = mbv2_plan.to_json()
    back = PatchPlan.from_json(text)
    assert back == mbv2_plan and back.tiles == mbv2_plan.tiles
    d = json.loads(text)
    assert d['format'] == 'mcudet.patch_plan/1' and len(d['tiles']) == 16
    layer = d['tiles'][0]['units'][0]['layers'][0]
    assert layer == {'name': 'stem', 'kind': 'conv', 'in_window': [0, 62, 0, 62], 'pads': [1, 0, 1, 0],
                     'out_window': [0, 31, 0, 31]}
    back.verify(mobilenet_v2(1.0, 224))


def test_edited_json_is_refused(mbv2_plan: PatchPlan) -> None:
    d = mbv2_plan.to_dict()
    d['tiles'][3]['units'][0]['layers'][0]['pads'] = [0, 0, 0, 0]
    with pytest.raises(PatchPlanError, match='disagrees with row_tiles/col_tiles'):
        PatchPlan.from_dict(d, 'plan.json')
    d = mbv2_plan.to_dict()
    d['row_tiles'][0]['units'][0]['in_span'] = [0, 60]
    d.pop('tiles')
    edited = PatchPlan.from_dict(d)
    with pytest.raises(PatchPlanError, match='stale or edited'):
        edited.verify(mobilenet_v2(1.0, 224))
    with pytest.raises(PatchPlanError, match="plan.json: format=None; expected 'mcudet.patch_plan/1'"):
        PatchPlan.from_dict({}, 'plan.json')
    with pytest.raises(PatchPlanError, match='plan.json: malformed patch plan'):
        PatchPlan.from_dict({'format': 'mcudet.patch_plan/1', 'split': 5}, 'plan.json')
    with pytest.raises(PatchPlanError, match='not valid JSON'):
        PatchPlan.from_json('{', 'plan.json')
    with pytest.raises(PatchPlanError, match="made for spec 'mbv2-w1', not 'other'"):
        mbv2_plan.verify(mobilenet_v2(1.0, 224, name='other'))


def test_grid_larger_than_stage_output_names_the_limit() -> None:
    msg = r'grid=\(8, 8\) is larger than the stage output 7x7 after unit 17 \(blocks\.16\); use at most 7x7'
    with pytest.raises(PatchPlanError, match=msg):
        make_patch_plan(mobilenet_v2(1.0, 224), 224, 8, 18)


@pytest.mark.parametrize('grid, msg', [
    ((0, 2), r'rows=0 must be a positive integer'),
    ((2, 2.5), r'cols=2\.5 must be a positive integer'),
    ((1, 2, 3), r'give an int n .* or a pair'),
    ('4x4', r'give an int n .* or a pair'),
])
def test_bad_grid(grid: object, msg: str) -> None:
    with pytest.raises(PatchPlanError, match=msg):
        make_patch_plan(mobilenet_v2(1.0, 224), 224, grid, 5)  # type: ignore[arg-type]


@pytest.mark.parametrize('input_hw, msg', [((0, 224), 'two positive integers'), ('big', 'give \\(height')])
def test_bad_input_hw(input_hw: object, msg: str) -> None:
    with pytest.raises(PatchPlanError, match=msg):
        make_patch_plan(mobilenet_v2(1.0, 224), input_hw, 4, 5)  # type: ignore[arg-type]


def test_split_out_of_range() -> None:
    with pytest.raises(PatchPlanError, match=r"split=0 is out of range for 'mbv2-w1'"):
        make_patch_plan(mobilenet_v2(1.0, 224), 224, 4, 0)


def test_uneven_grid_and_non_square_input() -> None:
    spec = ArchSpec('toy', ConvSpec(4, 3, 2), (BlockSpec(4, 5, 2, 1), BlockSpec(6, 7, 2, 2)))
    plan = make_patch_plan(spec, (37, 23), (2, 3), 3)
    assert plan.stage_out_hw == (10, 6)
    assert [t.out_span for t in plan.row_tiles] == [(0, 5), (5, 10)]
    assert [t.out_span for t in plan.col_tiles] == [(0, 2), (2, 4), (4, 6)]
    assert {t.out_window.area for t in plan.tiles} == {10}
