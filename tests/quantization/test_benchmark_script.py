"""tools/benchmark/quantization.py end to end on a tiny classification set (slow; numbers are not checked)."""
from __future__ import annotations

import json

import pytest

from tests.conftest import run_tool

pytestmark = pytest.mark.slow


def test_benchmark_quick_run_writes_the_table_and_json(tmp_path):
    proc = run_tool(['python', 'tools/benchmark/quantization.py', '--quick', '--tasks', 'cls',
                     '--ir-images', '4', '--work-dir', str(tmp_path)], timeout=900)
    assert 'classification top-1 (%)' in proc.stdout and 'PTQ percentile' in proc.stdout
    result = json.loads((tmp_path / 'quantization.json').read_text())
    rows = result['results']['cls']['rows']
    assert list(rows) == ['float', 'PTQ minmax', 'PTQ percentile', 'QAT']
    for name in ('PTQ minmax', 'PTQ percentile', 'QAT'):
        ir = rows[name]['ir']
        assert ir['images'] == 4 and ir['exact'] == 1.0  # the integer graph equals the PyTorch int8 model
        assert ir['ir'] == ir['torch']
