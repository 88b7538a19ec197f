"""The analytic memory model reproduces the MCUNetV2 paper's MobileNetV2 figures (kB = 1024 bytes)."""
from __future__ import annotations

import json

import pytest

from mcudet.arch import ArchSpec, BlockSpec, ConvSpec, build_units, mobilenet_v2
from mcudet.patch import (
    KB,
    MemoryReport,
    PatchPlanError,
    format_report,
    layer_live_bytes,
    make_patch_plan,
    memory_report,
)
from tests.patch.helpers import brute_force_stage, mbv2_rd


@pytest.fixture(scope='module')
def mbv2() -> ArchSpec:
    return mobilenet_v2(1.0, 224)


@pytest.fixture(scope='module')
def mbv2_patch(mbv2: ArchSpec) -> MemoryReport:
    return memory_report(mbv2, plan=make_patch_plan(mbv2, 224, 4, 5))


@pytest.fixture(scope='module')
def rd_patch() -> MemoryReport:
    spec = mbv2_rd()
    return memory_report(spec, plan=make_patch_plan(spec, 224, 4, 4))


def kb(n: int) -> int:
    return round(n / KB)


def test_per_layer_peak_is_1372_kb(mbv2: ArchSpec) -> None:
    r = memory_report(mbv2)
    assert r.per_layer_peak_bytes == 16 * 112 * 112 + 96 * 112 * 112 == 1_404_928
    assert kb(r.per_layer_peak_bytes) == 1372 and r.per_layer_peak_layer == 'blocks.1.expand'
    assert r.split == 0 and r.grid is None and r.patch_peak_bytes == r.per_layer_peak_bytes


def test_first_conv_alone_is_539_kb(mbv2: ArchSpec) -> None:
    stem = memory_report(mbv2).blocks[0]
    assert stem.name == 'stem' and stem.per_layer_bytes == 3 * 224 * 224 + 32 * 112 * 112 == 551_936
    assert kb(stem.per_layer_bytes) == 539


def test_depthwise_in_place_is_what_gives_1372(mbv2: ArchSpec) -> None:
    """Counting depthwise as in + out gives the 1470 kB the figures page warns about."""
    units = build_units(mbv2)
    dw = units[2].layers[1]
    assert dw.name == 'blocks.1.dw' and kb(dw.in_bytes + dw.out_bytes) == 1470
    assert layer_live_bytes('dw', dw.in_bytes, dw.out_bytes, 0, False, False) == dw.in_bytes


def test_patch_peak_is_172_kb(mbv2_patch: MemoryReport) -> None:
    r = mbv2_patch
    # Set by the per-layer stage: block 4's expand, 32x28x28 in + 192x28x28 out.
    assert r.patch_peak_bytes == r.layer_stage_peak_bytes == 32 * 784 + 192 * 784 == 175_616
    assert r.patch_peak_layer == 'blocks.4.expand' and kb(r.patch_peak_bytes) == 172  # 171.5 kB
    # Per-patch stage: worst tile's block 1 expand (16 + 96) x 35 x 35 + the 32x28x28 output buffer.
    assert r.patch_stage_peak_bytes == 112 * 35 * 35 + 32 * 28 * 28 == 162_288  # 158.5 kB
    assert r.stage_output_bytes == 25_088 and r.input_frame_bytes == 150_528
    assert round(r.per_layer_peak_bytes / r.patch_peak_bytes) == 8  # "8x lower"


def test_patch_peak_with_the_input_frame_resident(mbv2_patch: MemoryReport) -> None:
    assert mbv2_patch.patch_peak_with_input_bytes == 162_288 + 150_528 == 312_816


def test_input_patch_sizes(mbv2_patch: MemoryReport, rd_patch: MemoryReport) -> None:
    assert mbv2_patch.input_patch_size == (75, 75)
    assert rd_patch.input_patch_size == (63, 63)


def test_per_patch_stage_macs(mbv2_patch: MemoryReport, rd_patch: MemoryReport) -> None:
    """Paper: 91.3M -> 130M (+42 %) for MbV2, 73M (+18 %) for MbV2-RD: the unclipped count."""
    assert mbv2_patch.stage_macs == 91_282_688
    assert mbv2_patch.stage_patch_macs_unclipped == 129_517_568
    assert round(mbv2_patch.stage_patch_macs_unclipped / mbv2_patch.stage_macs - 1, 2) == 0.42
    assert rd_patch.stage_macs == 62_331_136
    assert rd_patch.stage_patch_macs_unclipped == 73_742_080
    assert round(rd_patch.stage_patch_macs_unclipped / rd_patch.stage_macs - 1, 2) == 0.18
    # What the exact executors compute (border tiles clipped): fewer.
    assert mbv2_patch.stage_patch_macs == 119_202_032
    assert rd_patch.stage_patch_macs == 70_789_984


def test_whole_network_macs(mbv2_patch: MemoryReport, rd_patch: MemoryReport) -> None:
    """Paper: 301M -> 330M (+10 %) for MbV2, +3 % for MbV2-RD: the clipped count."""
    assert mbv2_patch.macs == 300_774_272  # 301M, classifier FC included
    assert mbv2_patch.patch_macs == 328_693_616  # 329M, +9.3 %
    assert round(mbv2_patch.mac_overhead, 3) == 0.093
    assert round(rd_patch.mac_overhead, 2) == 0.03
    assert round(mbv2_patch.patch_macs_unclipped / mbv2_patch.macs - 1, 3) == 0.127


def test_block_rows(mbv2_patch: MemoryReport) -> None:
    rows = {r.name: r for r in mbv2_patch.blocks}
    assert [r.name for r in mbv2_patch.blocks][-2:] == ['feature_mix', 'classifier']
    b1 = rows['blocks.1']
    assert b1.per_patch and b1.per_layer_bytes == 1_404_928 and b1.patch_bytes == 162_288
    assert b1.in_shape == (16, 112, 112) and b1.out_shape == (24, 56, 56)
    assert [ly.name for ly in b1.layers] == ['blocks.1.expand', 'blocks.1.dw', 'blocks.1.project']
    b4 = rows['blocks.4']
    assert not b4.per_patch and b4.residual and b4.patch_bytes == b4.per_layer_bytes == 175_616
    # The fused add: project = 192x28x28 in + 32x28x28 out, the residual sharing the output buffer.
    assert b4.layers[2].per_layer_bytes == 175_616
    assert b4.layers[1].per_layer_bytes == 192 * 784 + 32 * 784  # in-place dw + residual
    assert sum(r.macs for r in mbv2_patch.blocks) == mbv2_patch.macs


def test_report_to_dict_is_json(mbv2_patch: MemoryReport) -> None:
    d = json.loads(json.dumps(mbv2_patch.to_dict()))
    assert d['patch_peak_bytes'] == 175_616 and d['grid'] == [4, 4] and len(d['blocks']) == 20
    assert 'input frame' in d['convention'] and d['mac_overhead'] == pytest.approx(0.0928, abs=1e-4)
    text = format_report(mbv2_patch)
    assert 'blocks.4.expand' in text and '171.5 kB' in text


@pytest.mark.parametrize('kind, first, last, expect', [
    ('pw', True, False, 10 + 30),            # expand reads the residual buffer itself
    ('dw', False, False, 30 + 10),           # in place + residual
    ('pw', False, True, 30 + 10),            # project accumulates into the residual buffer
    ('dw', True, False, 10 + 30),            # MB1 with residual: the input must survive
])
def test_live_bytes_cases(kind: str, first: bool, last: bool, expect: int) -> None:
    in_b, out_b = (10, 30) if first else (30, 30 if kind == 'dw' else 10)
    assert layer_live_bytes(kind, in_b, out_b, 10, first, last) == expect


def test_memory_matches_brute_force_over_tiles(mbv2: ArchSpec) -> None:
    plan = make_patch_plan(mbv2, (200, 168), (3, 2), 6)
    report = memory_report(mbv2, plan=plan)
    brute = brute_force_stage(build_units(mbv2, (200, 168)), plan)
    for row in report.blocks[:6]:
        for ly in row.layers:
            assert (ly.patch_bytes - plan.stage_output_bytes, ly.patch_macs) == brute[ly.name]


def test_mismatched_plan_is_refused(mbv2: ArchSpec) -> None:
    plan = make_patch_plan(mbv2, 224, 4, 5)
    with pytest.raises(PatchPlanError, match="differs from the plan's input_hw"):
        memory_report(mbv2, 160, plan)
    other = ArchSpec('other', ConvSpec(8, 3, 2), (BlockSpec(8, 3, 2, 1),))
    with pytest.raises(PatchPlanError, match="made for spec 'mbv2-w1', not 'other'"):
        memory_report(other, plan=plan)
