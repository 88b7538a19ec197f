"""PTQ calibration, QAT training mechanics, checkpoints, and the QuantizationHook driven like a runner."""
from __future__ import annotations

import copy
import logging
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.config import Config

from mcudet.quantization import (
    QConvBNAct,
    QuantizationHook,
    calibrate,
    enable_fake_quant,
    enable_observers,
    is_calibrated,
    prepare_model,
    quantize_model,
)
from mcudet.quantization.convert import act_quants
from mcudet.quantization.hooks import frozen_bn_layers

from .conftest import CLS_CONFIG, DET_CONFIG, build, forward_images, shape_images


def batches(n: int, size: int, batch: int = 2, seed: int = 0) -> list[torch.Tensor]:
    return [shape_images(batch, size, seed=seed + i) for i in range(n)]


def test_calibration_shows_progress_and_freezes_the_ranges(capfd):
    model = prepare_model(build(CLS_CONFIG))
    assert not is_calibrated(model)
    used = calibrate(model, iter(batches(5, 64)), num_batches=3, forward=forward_images)
    assert used == 3 and is_calibrated(model)
    assert 'PTQ calibration' in capfd.readouterr().err
    quants = act_quants(model)
    assert all(int(q.observer.num_batches) == 3 for q in quants if q.observer is not None)
    assert not any(bool(q.observe) for q in quants) and all(bool(q.enabled) for q in quants)
    ranges = [q.qparams() for q in quants]
    model.train()
    forward_images(model, shape_images(2, 64, seed=99))  # training-mode forward: ranges are frozen
    assert [q.qparams() for q in quants] == ranges


def test_calibration_errors():
    with pytest.raises(ValueError, match='prepare_model'):
        calibrate(torch.nn.Linear(2, 2), [torch.zeros(1, 2)])
    model = prepare_model(build(CLS_CONFIG))
    with pytest.raises(ValueError, match='no batch'):
        calibrate(model, [], forward=forward_images, progress=False)


def test_ptq_output_tracks_the_float_model():
    float_model = build(DET_CONFIG, seed=4)
    model = quantize_model(copy.deepcopy(float_model), batches(3, 96, 4), num_batches=3,
                           forward=forward_images, progress=False)
    imgs = shape_images(2, 96, seed=50)
    with torch.no_grad():
        want = forward_images(float_model, imgs)[0]
        got = forward_images(model, imgs)[0]
    for w, g in zip(want, got):
        err = (w - g).abs().mean() / (w.max() - w.min())
        assert err < 0.03, f'PTQ output error {err:.3f} of the output range'


def test_percentile_ranges_are_inside_minmax_ranges():
    data = batches(2, 64, 4)
    mm = quantize_model(build(CLS_CONFIG), data, 2, 'minmax', forward_images, progress=False)
    pc = quantize_model(build(CLS_CONFIG), data, 2, dict(type='percentile', percentile=99.0), forward_images,
                        progress=False)
    for a, b in zip(act_quants(mm), act_quants(pc)):
        if a.observer is not None:
            lo_a, hi_a = a.observer.range()
            lo_b, hi_b = b.observer.range()
            assert lo_a <= lo_b + 1e-6 and hi_b <= hi_a + 1e-6


def test_qat_trains_through_fake_quantization_and_checkpoints_reload():
    model = prepare_model(build(CLS_CONFIG), 'ema')
    calibrate(model, batches(2, 64, 4), 2, forward=forward_images, progress=False)
    enable_observers(model, True)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    before = model.backbone.stem.conv_layer.weight.detach().clone()
    ranges = [q.qparams() for q in act_quants(model)]
    batch = {'inputs': list(shape_images(4, 64, seed=7)), 'data_samples': None}
    x = model.data_preprocessor(batch, True)['inputs']
    loss = model(x, mode='tensor').logsumexp(1).mean()
    loss.backward()
    opt.step()
    assert not torch.equal(model.backbone.stem.conv_layer.weight, before)
    assert [q.qparams() for q in act_quants(model)] != ranges  # EMA observers follow the training data
    model.eval()
    imgs = shape_images(2, 64, seed=8)
    with torch.no_grad():
        want = forward_images(model, imgs)
    fresh = prepare_model(build(CLS_CONFIG, seed=5), 'ema')
    fresh.load_state_dict(model.state_dict(), strict=True)
    assert is_calibrated(fresh)
    with torch.no_grad():
        assert torch.equal(forward_images(fresh.eval(), imgs), want)


# ---------------------------------------------------------------------- the hook
class _Runner(SimpleNamespace):
    pass


def _runner(model, quantization: dict, train_loader=None) -> _Runner:
    cfg = Config(dict(quantization=quantization, train_dataloader=None))
    return _Runner(cfg=cfg, model=model, logger=logging.getLogger('test'), epoch=0, iter=0,
                   train_dataloader=train_loader, seed=0)


class _Loader(list):
    """A list of mmengine-style batches."""


def _det_batches(n: int) -> _Loader:
    return _Loader({'inputs': list(shape_images(2, 64, seed=i)), 'data_samples': None} for i in range(n))


def test_hook_prepares_calibrates_and_freezes_bn_on_schedule():
    model = build(DET_CONFIG)
    hook = QuantizationHook()
    settings = dict(mode='qat', calib_batches=2, freeze_bn_epoch=1, progress=False)
    runner = _runner(model, settings, _det_batches(3))
    hook.before_run(runner)
    assert hook.observer == 'ema' and act_quants(model)
    hook.before_train(runner)
    assert is_calibrated(model) and all(bool(q.observe) for q in act_quants(model) if q.observer is not None)
    hook.before_train_epoch(runner)
    assert frozen_bn_layers(model) == 0
    runner.epoch = 1
    hook.before_train_epoch(runner)
    with_bn = [m for m in model.modules() if isinstance(m, QConvBNAct) and m.bn_layer is not None]
    assert frozen_bn_layers(model) == len(with_bn) == 66


def test_hook_settings_come_from_the_config():
    hook = QuantizationHook(mode='qat')
    with pytest.raises(KeyError, match='quantization.bits is not a QuantizationHook setting'):
        hook.before_run(_runner(build(CLS_CONFIG), dict(bits=4)))
    hook = QuantizationHook()
    runner = _runner(build(CLS_CONFIG), dict(mode='ptq'))
    hook.before_run(runner)
    assert hook.observer == 'minmax'
    with pytest.raises(ValueError, match="mode='ptq' does not train"):
        hook.before_train(runner)
    with pytest.raises(ValueError, match='use one of'):
        QuantizationHook().before_run(_runner(build(CLS_CONFIG), dict(mode='int4')))


def test_qat_configs_parse():
    from tests.conftest import REPO

    for path in ('configs/det/mbv2-w035_tinyyolo_synthetic_qat.py',
                 'configs/cls/mcunetv2-vww_synthetic_qat.py'):
        cfg = Config.fromfile(str(REPO / path))
        assert cfg.quantization.mode == 'qat'
        assert [h.type for h in cfg.custom_hooks] == ['QuantizationHook']
        hook = QuantizationHook()
        runner = _runner(torch.nn.Identity(), dict(cfg.quantization))
        hook._configure(runner)
        assert hook.observer == 'ema' and hook.calib_batches > 0
    assert np.isfinite(cfg.optim_wrapper.optimizer.lr)
    enable_fake_quant(torch.nn.Identity())  # no quantizers: a no-op
