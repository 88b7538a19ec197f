"""Float fake quantization (the arithmetic QAT trains with) vs the integer kernels, layer by layer."""
from __future__ import annotations

import pytest
import torch

from mcudet.quantization import integer
from mcudet.quantization.agreement import layerwise_agreement

from .conftest import DET_CONFIG, calibrated, int8_images, shape_images


@pytest.fixture(scope='module')
def detector():
    model = calibrated(DET_CONFIG, 96, seed=2)
    return model, int8_images(model, shape_images(2, 96, seed=9))


def test_every_layer_is_within_one_step_on_the_same_inputs(detector):
    model, q = detector
    a = layerwise_agreement(model, q)
    names = [r[0] for r in a.layers]
    assert 'backbone.stem' in names and any(n.startswith('bbox_head') for n in names)
    assert any(n.endswith('.add') for n in names) and any('concat' in n for n in names)
    assert a.within_one >= 0.99 and a.exact >= 0.9
    assert all(r[3] <= 2 for r in a.layers), a.worst()
    # The model is back in its default state: integer kernels in eval mode.
    assert all(m.integer_eval for m in model.modules() if hasattr(m, 'integer_eval'))


def test_a_wrong_integer_kernel_shows(detector, monkeypatch):
    model, q = detector
    real = integer.requantize
    monkeypatch.setattr(integer, 'requantize', lambda *a, **k: torch.clamp(real(*a, **k) + 3, -128, 127))
    a = layerwise_agreement(model, q)
    assert a.within_one < 0.5
    assert a.worst(1)[0][3] >= 3
