"""Fixtures for the deploy tests: TFLite Micro (skipped when the wheel is absent) and vww.tflite."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

HAVE_TFLM = importlib.util.find_spec('tflite_micro') is not None
needs_tflm = pytest.mark.skipif(not HAVE_TFLM, reason='the tflite-micro wheel is not installed '
                                                      '(pip install --pre tflite-micro)')


@pytest.fixture
def vww_path(shared: Path) -> Path:
    path = shared / 'reference' / 'tflite' / 'vww.tflite'
    if not path.is_file():
        pytest.skip(f'{path} is absent')
    return path


@pytest.fixture
def images(shared: Path) -> Path:
    path = shared / 'reference' / 'images'
    if not (path / 'person_crop.png').is_file():
        pytest.skip(f'{path}/person_crop.png is absent')
    return path
