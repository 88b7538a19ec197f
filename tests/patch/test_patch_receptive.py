"""Receptive fields: the paper's recursion, exact intervals at borders, refusals."""
from __future__ import annotations

import pytest

from mcudet.arch import ArchSpec, BlockSpec, ConvSpec, build_units, mobilenet_v2
from mcudet.patch.receptive import (
    PatchPlanError,
    check_split,
    input_span,
    receptive_chain,
    split_even,
    trace_axis,
)
from tests.patch.helpers import mbv2_rd


def test_split_even_follows_array_split() -> None:
    assert split_even(28, 4) == ((0, 7), (7, 14), (14, 21), (21, 28))
    assert split_even(28, 3) == ((0, 10), (10, 19), (19, 28))
    assert split_even(7, 7) == tuple((i, i + 1) for i in range(7))
    with pytest.raises(PatchPlanError, match='cannot cut 3 pixels into 4'):
        split_even(3, 4)


@pytest.mark.parametrize('kernel, stride, out, size, expect', [
    (3, 1, (0, 4), 10, ((0, 5), (1, 0))),      # top border: one zero row
    (3, 1, (3, 7), 10, ((2, 8), (0, 0))),      # interior: g + k - 1
    (3, 2, (0, 7), 56, ((0, 14), (1, 0))),     # stride 2: 2(g - 1) + k = 15, clipped to 14
    (3, 2, (3, 4), 7, ((5, 7), (0, 1))),       # odd map, stride 2: the last output reads one pad
    (3, 2, (3, 4), 8, ((5, 8), (0, 0))),       # even map: PyTorch's bottom pad is never read
    (7, 1, (0, 2), 3, ((0, 3), (3, 2))),       # kernel larger than the map
    (1, 2, (2, 5), 10, ((4, 9), (0, 0))),      # 1x1 stride 2 adds nothing but stride
    (5, 1, (0, 3), None, ((-2, 5), (0, 0))),   # unclipped: the paper's recursion
])
def test_input_span(kernel: int, stride: int, out: tuple, size: int, expect: tuple) -> None:
    assert input_span(out, kernel, stride, size) == expect


def test_mbv2_chain_matches_paper() -> None:
    units = build_units(mobilenet_v2(1.0, 224))
    assert receptive_chain(units, 5, 7) == [7, 15, 17, 35, 37, 75]
    # A naive split of the 224 input into 4x4 would be 56x56 patches.
    assert 224 // 4 == 56


def test_mbv2_rd_chain_matches_paper() -> None:
    units = build_units(mbv2_rd())
    assert receptive_chain(units, 4, 7) == [7, 15, 31, 31, 63]


def test_mbv2_rd_matches_the_zoo() -> None:
    zoo = pytest.importorskip('mcudet.arch.zoo')
    try:
        spec = zoo.get_spec('mbv2-rd')
    except Exception as e:  # the zoo is written in parallel; its absence is not this module's bug
        pytest.skip(f'mbv2-rd not in the zoo yet: {e}')
    assert spec.blocks == mbv2_rd().blocks and spec.stem == mbv2_rd().stem


def test_interior_tile_of_mbv2_sits_where_expected() -> None:
    units = build_units(mobilenet_v2(1.0, 224))
    traced = trace_axis(units, 5, (7, 14), axis=0)
    assert [u.in_span for u in traced] == [(43, 118), (22, 59), (23, 58), (12, 29), (13, 28)]
    assert all(ly.pad == (0, 0) for u in traced for ly in u.layers)
    border = trace_axis(units, 5, (0, 7), axis=0)
    assert border[0].in_span == (0, 62) and border[0].layers[0].pad == (1, 0)


def test_residual_window_is_the_output_and_inside_the_unit_input() -> None:
    units = build_units(mobilenet_v2(1.0, 224))
    block2 = trace_axis(units, 5, (7, 14), axis=1)[3]
    assert units[3].residual and block2.residual_span == block2.out_span == (13, 28)
    assert block2.in_span == (12, 29)


def test_se_in_the_patch_stage_is_refused_with_the_block_named() -> None:
    blocks = (BlockSpec(8, 3, 4, 1), BlockSpec(16, 3, 4, 2, se_ratio=0.25))
    spec = ArchSpec('se-net', ConvSpec(8, 3, 2), blocks)
    units = build_units(spec, (32, 32))
    check_split(units, 2)  # SE block outside the per-patch stage: fine
    with pytest.raises(PatchPlanError, match=r'blocks\.1\.se .*squeeze-excite.*use split <= 2'):
        check_split(units, 3)


@pytest.mark.parametrize('split', [0, 20, -1])
def test_split_out_of_range_names_the_range(split: int) -> None:
    units = build_units(mobilenet_v2(1.0, 224))
    with pytest.raises(PatchPlanError, match=rf'split={split} is out of range.*1 <= split <= 19'):
        check_split(units, split)


def test_split_must_be_an_int() -> None:
    units = build_units(mobilenet_v2(1.0, 224))
    with pytest.raises(PatchPlanError, match='must be an integer'):
        check_split(units, 2.0)  # type: ignore[arg-type]
