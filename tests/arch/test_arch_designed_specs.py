"""Our MCUNetV2 designs in the zoo (mcunetv2-vww, -det-m4, -det-h7, -s): budgets, MACs, outputs.

Every number quoted in the comment above ``_DESIGNED`` in ``mcudet/arch/zoo.py`` is recomputed
here with the analytic model (paper convention: int8, input frame streamed; kB = 1024 B).
"""
from __future__ import annotations

from dataclasses import replace

import pytest

from mcudet.arch import ArchSpec, build_units, count_macs, count_params, get_spec
from mcudet.arch.zoo import DESIGNED_SPECS
from mcudet.patch import KB, make_patch_plan, memory_report, search_schedule
from mcudet.patch.profile import peak_with_outputs, stride_of

# name: input (H, W), SRAM of the target board (kB), MACs range (M, head excluded), max params (M),
# and the documented per-layer peak / patch-based peak in bytes.
DESIGNS = {
    'mcunetv2-vww': dict(hw=(160, 160), sram_kb=32, macs=(20, 40), params=1.0,
                         per_layer=204_800, patch=32_000),
    'mcunetv2-det-m4': dict(hw=(224, 224), sram_kb=256, macs=(100, 150), params=0.85,
                            per_layer=501_760, patch=169_088),
    'mcunetv2-det-h7': dict(hw=(320, 320), sram_kb=512, macs=(220, 300), params=1.8,
                            per_layer=1_024_000, patch=333_440),
    'mcunetv2-s': dict(hw=(240, 320), sram_kb=168, macs=(80, 100), params=0.6,
                       per_layer=768_000, patch=144_000),
}
DOCUMENTED_MACS = {'mcunetv2-vww': 30.2, 'mcunetv2-det-m4': 120.7, 'mcunetv2-det-h7': 277.4,
                   'mcunetv2-s': 94.0}
DETECTION = [n for n in DESIGNS if n != 'mcunetv2-vww']


def _schedule(spec: ArchSpec) -> dict:
    return spec.extra['patch_schedule']


def _report(spec: ArchSpec):
    s = _schedule(spec)
    hw = tuple(spec.extra['input_hw'])
    return memory_report(spec, hw, make_patch_plan(spec, hw, tuple(s['grid']), s['split']))


def test_all_designs_are_registered_and_tested() -> None:
    assert set(DESIGNED_SPECS) == set(DESIGNS)


@pytest.mark.parametrize('name', DESIGNS)
def test_design_validates_and_records_its_schedule(name: str) -> None:
    spec = get_spec(name)
    spec.validate()
    assert tuple(spec.extra['input_hw']) == DESIGNS[name]['hw']
    s = _schedule(spec)
    assert s['input_hw'] == spec.extra['input_hw'] and s['split'] == 4 and len(s['grid']) == 2
    assert all(b.out_channels % 8 == 0 for b in spec.blocks) and spec.stem.out_channels % 8 == 0
    assert ArchSpec.from_json(spec.to_json()).extra == spec.extra  # extra survives JSON


@pytest.mark.parametrize('name', DESIGNS)
def test_patch_peak_fits_and_matches_the_documented_numbers(name: str) -> None:
    spec, want = get_spec(name), DESIGNS[name]
    report = _report(spec)
    budget = _schedule(spec)['budget_kb'] * KB
    assert report.patch_peak_bytes <= budget <= want['sram_kb'] * KB
    assert (report.per_layer_peak_bytes, report.patch_peak_bytes) == (want['per_layer'], want['patch'])
    assert report.mac_overhead < 0.06  # a short per-patch stage keeps the halo recomputation small


@pytest.mark.parametrize('name', DESIGNS)
def test_recorded_grid_is_what_the_search_picks(name: str) -> None:
    spec = get_spec(name)
    s = _schedule(spec)
    found = search_schedule(spec, tuple(spec.extra['input_hw']), s['budget_kb'] * KB, splits=[s['split']])
    assert found.fits and list(found.grid) == s['grid']


@pytest.mark.parametrize('name', DESIGNS)
def test_macs_and_params_in_the_documented_range(name: str) -> None:
    spec, want = get_spec(name), DESIGNS[name]
    macs = count_macs(spec, want['hw']) / 1e6
    lo, hi = want['macs']
    assert lo <= macs <= hi and round(macs, 1) == DOCUMENTED_MACS[name]
    assert count_params(spec) / 1e6 <= want['params']


@pytest.mark.parametrize('name', DESIGNS)
def test_per_patch_stage_ends_at_stride_8(name: str) -> None:
    spec = get_spec(name)
    units = build_units(spec, tuple(spec.extra['input_hw']))
    split = _schedule(spec)['split']
    assert stride_of(units, split - 1) == 8 and stride_of(units, split - 2) == 4


@pytest.mark.parametrize('name', DETECTION)
def test_out_indices_are_the_last_units_at_strides_8_16_32(name: str) -> None:
    spec = get_spec(name)
    units = build_units(spec, tuple(spec.extra['input_hw']))
    outs = spec.extra['out_indices']
    assert [stride_of(units, o) for o in outs] == [8, 16, 32]
    for o in outs:  # the deepest feature of its stride
        assert o == len(units) - 1 or stride_of(units, o + 1) > stride_of(units, o)
    # no output inside the per-patch stage, which would need its own stitched full-size buffer
    assert outs[0] >= _schedule(spec)['split'] - 1


@pytest.mark.parametrize('name', DETECTION)
def test_kept_multiscale_features_still_fit_the_board(name: str) -> None:
    spec = get_spec(name)
    units = build_units(spec, tuple(spec.extra['input_hw']))
    kept, _ = peak_with_outputs(_report(spec), units, spec.extra['out_indices'])
    # within the design budget, which leaves the rest of the board's SRAM to the neck and head
    assert kept <= _schedule(spec)['budget_kb'] * KB


def test_vww_follows_the_paper_layout() -> None:
    spec = get_spec('mcunetv2-vww')
    layout = [(b.expand_ratio, b.kernel_size, b.stride) for b in spec.blocks]
    assert layout == [(1, 1, 1), (3, 3, 2), (4, 3, 2),  # per patch, after the conv3x3 s2 stem
                      (4, 5, 1), (4, 3, 1), (4, 7, 2), (4, 7, 1), (4, 7, 1), (6, 5, 1), (6, 3, 2), (6, 5, 1),
                      (3, 3, 1), (3, 7, 1), (6, 5, 1)]
    assert (spec.stem.kernel_size, spec.stem.stride) == (3, 2) and spec.classifier.num_classes == 2


@pytest.mark.parametrize('blocks, width', [(range(2, 5), 24), (range(5, 9), 48)])
def test_vww_widths_are_the_largest_that_fit(blocks: range, width: int) -> None:
    """One width step (+8) on the 20x20 or the 10x10 stage breaks the 32 kB budget."""
    spec = get_spec('mcunetv2-vww')
    wider = list(spec.blocks)
    for i in blocks:
        wider[i] = replace(wider[i], out_channels=width)
    wider_spec = replace(spec, blocks=tuple(wider))
    report = memory_report(wider_spec, 160, make_patch_plan(wider_spec, 160, 4, 4))
    assert report.patch_peak_bytes > 32 * KB
