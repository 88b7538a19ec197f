"""Board profiles (configs/boards, mcudet.deploy.boards): they load, bad ones fail naming the file and
the field, and the linker script carries each board's budgets."""
from __future__ import annotations

from pathlib import Path

import pytest

from mcudet.deploy.boards import BoardError, BoardProfile, board_from_dict, list_boards, load_board
from mcudet.deploy.firmware import linker_script

GOOD = {'name': 'demo', 'description': 'a test board', 'cpu': 'cortex-m4', 'sram_bytes': 128 * 1024,
        'flash_bytes': 512 * 1024, 'qemu_machine': 'mps2-an386'}


def test_shipped_profiles() -> None:
    assert list_boards() == ['netduinoplus2', 'stm32f412', 'stm32f746', 'stm32h743']
    expect = {'stm32f412': ('cortex-m4', 256, 1024, 'mps2-an386'),
              'stm32f746': ('cortex-m7', 320, 1024, 'mps2-an500'),
              'stm32h743': ('cortex-m7', 512, 2048, 'mps2-an500'),
              'netduinoplus2': ('cortex-m4', 192, 1024, 'netduinoplus2')}
    for name, (cpu, sram_kib, flash_kib, machine) in expect.items():
        b = load_board(name)
        assert isinstance(b, BoardProfile) and b.source.name == f'{name}.py'
        got = (b.cpu, b.sram_bytes // 1024, b.flash_bytes // 1024, b.qemu_machine)
        assert got == (cpu, sram_kib, flash_kib, machine)
        assert b.stack_bytes > 0 and b.heap_bytes > 0
    nd = load_board('netduinoplus2')
    assert nd.flash_origin == 0x0800_0000 and nd.sram_origin == 0x2000_0000 and nd.machine.faults_past_sram
    assert load_board(load_board('stm32f412')) == load_board('stm32f412')


def test_profile_by_path(tmp_path: Path) -> None:
    path = tmp_path / 'demo.py'
    path.write_text('# a comment\n' + ''.join(f'{k} = {v!r}\n' for k, v in GOOD.items()).replace(
        '131072', '128 * 1024'))
    b = load_board(path)
    assert b.sram_bytes == 128 * 1024 and b.source == path and b.stack_bytes == 8 * 1024


@pytest.mark.parametrize('change, message', [
    ({'sram_bytes': None}, "missing field(s) ['sram_bytes']"),
    ({'ram': 1}, "unknown field(s) ['ram']"),
    ({'cpu': 'cortex-m0'}, "field cpu='cortex-m0'"),
    ({'qemu_machine': 'lm3s6965evb'}, "field qemu_machine='lm3s6965evb'"),
    ({'qemu_machine': 'mps2-an500'}, "emulates a cortex-m7, not cpu='cortex-m4'"),
    ({'sram_bytes': 1001}, "field 'sram_bytes' must be a positive multiple of 4"),
    ({'sram_bytes': 8 * 1024 * 1024}, 'sram_bytes=8,388,608 exceeds the 4,194,304 B of RAM'),
    ({'name': 'other'}, "name='other' must equal the file name 'demo'"),
    ({'stack_bytes': 64 * 1024, 'heap_bytes': 64 * 1024}, 'leave nothing of sram_bytes=131,072'),
])
def test_bad_profile_names_file_and_field(tmp_path: Path, change: dict, message: str) -> None:
    values = {**GOOD, **change}
    path = tmp_path / 'demo.py'
    path.write_text(''.join(f'{k} = {v!r}\n' for k, v in values.items() if v is not None))
    with pytest.raises(BoardError) as e:
        load_board(path)
    assert str(path) in str(e.value) and message in str(e.value)


def test_profile_is_data_not_code(tmp_path: Path) -> None:
    path = tmp_path / 'demo.py'
    path.write_text("name = 'demo'\nsram_bytes = __import__('os').getpid()\n")
    with pytest.raises(BoardError, match=r'demo.py:2 \(sram_bytes\): only literals'):
        load_board(path)
    path.write_text('import os\n')
    with pytest.raises(BoardError, match=r'demo.py:1: a board profile holds only'):
        load_board(path)


def test_unknown_board_lists_known_ones() -> None:
    with pytest.raises(BoardError, match='unknown board .stm32f999.*known boards: netduinoplus2, stm32f412'):
        load_board('stm32f999')


def test_linker_script_carries_the_budgets() -> None:
    ld = linker_script(load_board('stm32f746'), stack_bytes=4096, heap_bytes=512)
    assert '__flash_budget = 1048576;' in ld and '__sram_budget = 327680;' in ld
    assert '__stack_size = 4096;' in ld and '__heap_min = 512;' in ld
    assert 'ORIGIN = 0x00000000' in ld and 'ORIGIN = 0x20000000' in ld
    assert 'ASSERT(__sram_used <= __sram_budget, "mcudet: SRAM over budget' in ld
    nd = linker_script(load_board('netduinoplus2'), 8192, 1024)
    assert 'FLASH (rx)  : ORIGIN = 0x08000000, LENGTH = 0x00100000' in nd
    assert 'SRAM  (rwx) : ORIGIN = 0x20000000, LENGTH = 0x00030000' in nd
    assert board_from_dict(GOOD).name == 'demo'
