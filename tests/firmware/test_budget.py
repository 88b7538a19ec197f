"""Budgets: an over-budget model is a link error that says by how many bytes and proposes a patch
schedule that fits; the netduinoplus2's 192 KiB is a physical limit (an arena past it faults)."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest

from mcudet.deploy.boards import board_from_dict, load_board
from mcudet.deploy.codegen import export, layer_split, make_plan, strip_output_dequantize
from mcudet.deploy.firmware import BudgetError, FirmwareError, build_firmware, check_export, run_firmware

from .conftest import (
    assert_bitexact,
    conv1x1_graph,
    exported,
    int8_inputs,
    needs_arm_gcc,
    needs_qemu,
    wide_graph,
)

pytestmark = [needs_arm_gcc, pytest.mark.slow]


def small_board(sram_kib: int = 96, flash_kib: int = 1024):
    return board_from_dict({'name': f'test{sram_kib}k', 'description': 'test budget', 'cpu': 'cortex-m4',
                            'sram_bytes': sram_kib * 1024, 'flash_bytes': flash_kib * 1024,
                            'qemu_machine': 'mps2-an386'})


@pytest.fixture(scope='module')
def vww_export(tmp_path_factory, vww_graph):
    out = tmp_path_factory.mktemp('vww')
    return export(vww_graph, out, tflite=True), out


def test_sram_over_budget_names_overflow_and_a_schedule_that_fits(vww_export) -> None:
    ex, out = vww_export
    board = small_board(96)
    with pytest.raises(BudgetError) as e:
        build_firmware(out, board)  # the graph comes from out/model.tflite
    err = e.value
    msg = str(err)
    m = re.match(r'test96k: SRAM over budget by ([\d,]+) B \(needs ([\d,]+) B of 98,304 B: '
                 rf'arena {ex.plan.arena_bytes:,} \+ input frame buffer 19,200 \+ output buffers 2 \+ '
                 r'other .*\+ heap 1,024 \+ '
                 r'stack 8,192 B\); try --patches 2x2 --split 5 \(arena ([\d,]+) B of the ([\d,]+) B left '
                 r'for it\)$', msg)
    assert m, msg
    over, needed, arena, left = (int(g.replace(',', '')) for g in m.groups())
    assert err.region == 'SRAM' and err.over_bytes == over == needed - 98_304 == err.sram.total - 98_304
    assert left == err.sram.arena - over
    graph = strip_output_dequantize(ex.graph)
    assert arena == make_plan(graph, (2, 2), layer_split(graph, 5)).arena_bytes <= left
    assert not (out / 'firmware' / 'test96k-dsp').exists(), 'a failed build must not leave a firmware folder'


def test_suggested_schedule_then_fits(tmp_path: Path, vww_graph) -> None:
    board = small_board(96)
    export(vww_graph, tmp_path, patches=(2, 2), split=layer_split(vww_graph, 5), tflite=False)
    fw = build_firmware(tmp_path, board)
    assert fw.fits and fw.sram.total <= 96 * 1024


def test_flash_over_budget(vww_export) -> None:
    _, out = vww_export
    with pytest.raises(BudgetError, match=r'test96k: flash over budget by [\d,]+ B \(needs [\d,]+ B of '
                                          r'262,144 B: model constants 49\d,\d{3} \+ .*'
                                          r'patches do not shrink weights'):
        build_firmware(out, small_board(96, flash_kib=256))


@needs_qemu
def test_check_export_record(vww_export) -> None:
    ex, out = vww_export
    check = check_export(ex, 'stm32f412', export_dir=out, count='none')
    d = check.to_dict()
    for key in ('flash_bytes', 'sram_bytes', 'stack_bytes', 'fits', 'instructions', 'bitexact_vs_reference'):
        assert key in d, key
    assert d['fits'] is True and d['bitexact_vs_reference'] is True and d['error'] == ''
    assert d['sram_bytes'] == d['sram']['total'] <= d['sram_budget']
    assert 0 < d['stack_bytes'] <= d['stack_reserved']
    assert (out / 'firmware' / 'stm32f412-dsp' / 'firmware.json').is_file()
    assert 'bit-exact vs reference' in check.line()
    bad = check_export(ex, small_board(96), export_dir=out, run_qemu=False)
    assert bad.fits is False and bad.stack_bytes is None
    assert bad.error.startswith('test96k: SRAM over budget by')


@needs_qemu
def test_netduinoplus2_physical_limit(tmp_path: Path) -> None:
    nd = load_board('netduinoplus2')
    # A model that fits runs there, bit-exact, with the image in the 0x08000000 flash.
    graph = conv1x1_graph(8, 16, 16)
    _, frames, refs = exported(graph, tmp_path / 'small', int8_inputs(graph), tflite=False)
    fw = build_firmware(tmp_path / 'small', nd)
    assert fw.markers[0] >= 0x0800_0000
    assert_bitexact(run_firmware(fw, frames, count='none').outputs, refs)
    # An arena of 221,280 B does not fit 192 KiB: a link error first ...
    wide = wide_graph()
    _, frames, _ = exported(wide, tmp_path / 'wide', int8_inputs(wide), tflite=True)
    with pytest.raises(BudgetError, match=r'netduinoplus2: SRAM over budget by [\d,]+ B .*no schedule up to'):
        build_firmware(tmp_path / 'wide', nd)
    # ... and with the linker's budget lifted past the hardware, the write past 0x20030000 faults.
    lifted = dataclasses.replace(nd, sram_bytes=256 * 1024)
    fw = build_firmware(tmp_path / 'wide', lifted)
    fault = r'faulted \(exit 103\): mcudet firmware: HardFault .*BFAR=0x20030000'
    with pytest.raises(FirmwareError, match=fault):
        run_firmware(fw, frames, count='none', timeout=30)
    # The same image on an MPS2 stand-in (4 MiB of RAM behind the budget) runs: the limit is physical.
    run = run_firmware(build_firmware(tmp_path / 'wide', 'stm32f412'), frames, count='none')
    assert np.asarray(run.outputs[0][0]).size == 96


@needs_qemu
def test_stack_overflow_is_a_loud_failure(tmp_path: Path) -> None:
    graph = conv1x1_graph(8, 16, 16)
    _, frames, _ = exported(graph, tmp_path, int8_inputs(graph), tflite=False)
    # The stack sits at the bottom of SRAM: running past it faults instead of overwriting data.
    fw = build_firmware(tmp_path, 'stm32f412', stack_bytes=128)
    with pytest.raises(FirmwareError, match=r'faulted \(exit 103\): mcudet firmware: HardFault'):
        run_firmware(fw, frames, count='none', timeout=30)
    fw = build_firmware(tmp_path, 'netduinoplus2', stack_bytes=128)
    with pytest.raises(FirmwareError, match='CPU lock-up .*raise stack_bytes'):
        run_firmware(fw, frames, count='none', timeout=30)
