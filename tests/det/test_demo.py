"""The README's demo command, shrunk (1 epoch, 24 images): every stage runs, through the firmware in QEMU."""
import json
import shutil

import pytest

from tests.conftest import run_tool

pytestmark = pytest.mark.slow


def test_demo_runs_every_stage_to_the_emulated_mcu(tmp_path):
    if not (shutil.which('arm-none-eabi-gcc') and shutil.which('qemu-system-arm')):
        pytest.skip('arm-none-eabi-gcc / qemu-system-arm are not installed (tools/install.sh adds them)')
    work = tmp_path / 'demo'
    proc = run_tool(['python', 'tools/demo.py', '--epochs', '1', '--images', '24', '--work-dir', str(work),
                     '--data-root', str(tmp_path / 'data')], timeout=1200)
    for stage in range(1, 8):
        assert f'[demo {stage}/7]' in proc.stdout
    assert 'boxes identical' in proc.stdout
    s = json.loads((work / 'summary.json').read_text())
    assert s['mAP50'] == s['mAP50_patch_based']
    fw = s['firmware']
    assert fw['board'] == 'stm32f412' and fw['fits'] is True
    assert fw['bitexact_vs_reference'] is True and fw['detections_match_reference'] is True
    assert fw['sram_bytes'] <= 256 * 1024 and fw['instructions'] > fw['macs']
