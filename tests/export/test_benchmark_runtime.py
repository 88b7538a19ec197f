"""tools/benchmark/runtime.py runs end to end on one small zoo model (the numbers are not checked)."""
from __future__ import annotations

import json

from tests.conftest import run_tool


def test_runtime_benchmark_writes_the_table_and_json(tmp_path):
    out = tmp_path / 'runtime.json'
    proc = run_tool(['python', 'tools/benchmark/runtime.py', '--models', 'mcunet-in0', '--runs', '1',
                     '--out', str(out)])
    assert 'speedup' in proc.stdout and 'mcunet-in0' in proc.stdout
    (row,) = json.loads(out.read_text())['rows']
    assert row['model'] == 'mcunet-in0' and row['macs'] > 5_000_000
    assert 0 < row['ours_auto_bytes'] <= row['ours_per_layer_bytes'] < row['tflm_arena_bytes']
    assert row['tflm_activation_bytes'] <= row['tflm_arena_bytes']
    assert row['ours_ms'] > 0 and row['tflm_ms'] > 0 and row['speedup'] > 0
