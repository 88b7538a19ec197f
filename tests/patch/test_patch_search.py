"""Schedule search: it finds the paper's MobileNetV2 schedule and says what it trades."""
from __future__ import annotations

import json

import pytest

from mcudet.arch import ArchSpec, BlockSpec, ConvSpec, mobilenet_v2
from mcudet.patch import KB, PatchPlanError, format_candidates, search_schedule

MBV2 = mobilenet_v2(1.0, 224)


def test_180kb_finds_the_paper_schedule() -> None:
    s = search_schedule(MBV2, 224, 180 * KB)
    assert (s.split, s.grid, s.fits) == (5, (4, 4), True)
    assert s.peak_bytes == 175_616 and round(s.peak_bytes / KB) == 172
    assert s.plan is not None and s.plan.input_patch_size == (75, 75)
    assert s.report.patch_macs == 328_693_616
    # The per-layer schedule is a candidate and does not fit.
    per_layer = [c for c in s.candidates if c.grid is None]
    assert len(per_layer) == 1 and per_layer[0].peak_bytes == 1_404_928 and not per_layer[0].fits


def test_256kb_takes_fewer_larger_tiles() -> None:
    """With more room, 3x3 tiles recompute less than 4x4: 232,176 bytes, +6.0 % MACs instead of +9.3 %."""
    s = search_schedule(MBV2, 224, 256 * KB)
    assert (s.split, s.grid, s.fits) == (5, (3, 3), True)
    assert s.peak_bytes == 112 * 43 * 43 + 32 * 28 * 28 == 232_176
    assert s.report.patch_macs == 318_882_624


def test_rectangular_grids_find_a_slightly_cheaper_schedule() -> None:
    """3x5 tiles save 0.08 % MACs over 4x4 at the same 171.5 kB peak (the per-layer stage sets both)."""
    s = search_schedule(MBV2, 224, 180 * KB, rectangular=True)
    assert (s.split, s.grid) in ((5, (3, 5)), (5, (5, 3)))
    assert s.report.patch_macs == 328_441_344 and s.peak_bytes == 175_616
    assert len(s.candidates) > 1000


def test_nothing_fits_gives_the_lowest_peak() -> None:
    s = search_schedule(MBV2, 224, 64 * KB)
    assert not s.fits and s.peak_bytes == 175_616 and (s.split, s.grid) == (5, (4, 4))
    assert not any(c.fits for c in s.candidates)


def test_per_layer_wins_when_it_fits() -> None:
    s = search_schedule(MBV2, 224, 2 * 1024 * KB)
    assert (s.split, s.grid, s.plan, s.fits) == (0, None, None, True)
    assert s.report.patch_macs == s.report.macs


def test_input_frame_convention_changes_the_answer() -> None:
    s = search_schedule(MBV2, 224, 320 * KB, count_input_frame=True)
    assert s.fits and s.report.patch_peak_with_input_bytes <= 320 * KB
    assert s.peak_bytes == s.report.patch_peak_with_input_bytes


def test_se_blocks_are_skipped_not_fatal() -> None:
    blocks = (BlockSpec(8, 3, 4, 1), BlockSpec(16, 3, 4, 2, se_ratio=0.25), BlockSpec(16, 3, 4, 1))
    spec = ArchSpec('se-net', ConvSpec(8, 3, 2), blocks)
    s = search_schedule(spec, 64, 10 * KB, max_grid=3)
    assert all(c.split <= 2 for c in s.candidates)


def test_schedule_to_dict_and_table() -> None:
    s = search_schedule(MBV2, 224, 180 * KB, max_grid=4, splits=[5, 6])
    d = json.loads(json.dumps(s.to_dict()))
    assert d['grid'] == [4, 4] and d['plan']['split'] == 5 and d['peak_bytes'] == 175_616
    table = format_candidates(s)
    assert table.splitlines()[1].split()[:2] == ['5', '4x4']


@pytest.mark.parametrize('kwargs, msg', [({'budget_bytes': 0}, 'budget_bytes=0 must be a positive'),
                                         ({'budget_bytes': 1.5e5}, 'budget_bytes=150000.0'),
                                         ({'max_grid': 0}, 'max_grid=0 must be a positive')])
def test_bad_arguments(kwargs: dict, msg: str) -> None:
    with pytest.raises(PatchPlanError, match=msg):
        search_schedule(MBV2, 224, **kwargs)
