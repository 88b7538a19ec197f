"""QuantizationHook: PTQ and QAT from a config, with the standard tools.

A config switches quantization on with one key and the hook::

    quantization = dict(mode='qat', observer='ema', calib_batches=16, freeze_bn_epoch=6)
    custom_hooks = [dict(type='QuantizationHook')]

* ``tools/train.py CONFIG --cfg-options load_from=float.pth`` fine-tunes with QAT: the
  hook prepares the model before the checkpoint loads (parameter names are unchanged,
  so the float checkpoint loads), calibrates the ranges on ``calib_batches`` training
  batches, and trains with fake quantization and EMA range observers; from epoch
  ``freeze_bn_epoch`` (or iteration ``freeze_bn_iter``) on, batch norm is folded with
  frozen running statistics, and from ``freeze_observer_epoch`` the ranges stop moving.
  Checkpoints carry the ranges (buffers), so ``--resume`` and ``tools/test.py CONFIG
  qat.pth`` evaluate the int8 model.
* ``tools/test.py CONFIG float.pth --cfg-options quantization.mode=ptq`` evaluates
  post-training quantization: calibrate on ``calib_batches`` batches of
  ``calib_dataloader`` (default the training set), then test the int8 model.

The ``quantization`` dict of the config overrides the hook's own arguments.
"""
from __future__ import annotations

import copy
from typing import Optional, Union

from mmengine import dist
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch import nn

from mcudet.registry import HOOKS

from .convert import ObserverCfg, act_quants, prepare_model
from .ptq import calibrate, enable_fake_quant, enable_observers, freeze_bn, is_calibrated

MODES = ('qat', 'ptq')


def sync_observers(model: nn.Module, how: str = 'minmax') -> None:
    """Make every rank's activation ranges identical (min / max over ranks, or their mean)."""
    if dist.get_world_size() < 2:
        return
    for q in act_quants(model):
        obs = q.observer
        if obs is None:
            continue
        if how == 'minmax':
            dist.all_reduce(obs.min_val, op='min')
            dist.all_reduce(obs.max_val, op='max')
        else:
            dist.all_reduce(obs.min_val, op='mean')
            dist.all_reduce(obs.max_val, op='mean')
        dist.all_reduce(obs.num_batches, op='max')
        q.refresh()


@HOOKS.register_module()
class QuantizationHook(Hook):
    """Quantize the runner's model: QAT during training, PTQ calibration before evaluation.

    Args:
        mode: 'qat' (train with fake quantization) or 'ptq' (evaluate only).
        observer: Activation range observer; default 'ema' for QAT, 'minmax' for PTQ
            (or 'percentile', or a dict such as ``dict(type='percentile', percentile=99.9)``).
        calib_batches: Batches observed before QAT starts, or for PTQ.
        calib_dataloader: 'train', 'val' or 'test': where the PTQ calibration batches
            come from when evaluating (QAT always uses the training loader).
        freeze_bn_epoch: Epoch from which batch norm is folded with frozen statistics
            (None: never; 0: from the start).
        freeze_bn_iter: The same for iteration-based training.
        freeze_observer_epoch: Epoch from which the activation ranges stop moving.
        progress: Show the calibration progress bar.
    """

    priority = 'VERY_HIGH'

    def __init__(self, mode: str = 'qat', observer: ObserverCfg = None, calib_batches: int = 16,
                 calib_dataloader: str = 'train', freeze_bn_epoch: Optional[int] = None,
                 freeze_bn_iter: Optional[int] = None, freeze_observer_epoch: Optional[int] = None,
                 progress: bool = True) -> None:
        self.mode = mode
        self.observer = observer
        self.calib_batches = calib_batches
        self.calib_dataloader = calib_dataloader
        self.freeze_bn_epoch = freeze_bn_epoch
        self.freeze_bn_iter = freeze_bn_iter
        self.freeze_observer_epoch = freeze_observer_epoch
        self.progress = progress
        self._bn_frozen = False
        self._observers_frozen = False

    # ------------------------------------------------------------------ helpers
    def _configure(self, runner) -> None:
        overrides = runner.cfg.get('quantization', None) or {}
        for key, value in dict(overrides).items():
            if not hasattr(self, key) or key.startswith('_'):
                raise KeyError(f'quantization.{key} is not a QuantizationHook setting; use one of '
                               'mode, observer, calib_batches, calib_dataloader, freeze_bn_epoch, '
                               'freeze_bn_iter, freeze_observer_epoch, progress')
            setattr(self, key, value)
        if self.mode not in MODES:
            raise ValueError(f'quantization.mode={self.mode!r}; use one of {MODES}')
        if self.observer is None:
            self.observer = 'ema' if self.mode == 'qat' else 'minmax'

    @staticmethod
    def _model(runner) -> nn.Module:
        return runner.model.module if is_model_wrapper(runner.model) else runner.model

    def _calibrate(self, runner, loader: Union[str, object]) -> None:
        model = self._model(runner)
        if is_calibrated(model):
            return
        if isinstance(loader, str):
            loader = self._build_loader(runner, loader)
        used = calibrate(model, loader, self.calib_batches, progress=self.progress and dist.is_main_process())
        sync_observers(model, 'minmax')
        runner.logger.info(f'QuantizationHook: calibrated {len(act_quants(model))} activation ranges on '
                           f'{used} batches ({self.observer} observer)')

    @staticmethod
    def _build_loader(runner, which: str):
        if which not in ('train', 'val', 'test'):
            raise ValueError(f"quantization.calib_dataloader={which!r}; use 'train', 'val' or 'test'")
        cfg = runner.cfg.get(f'{which}_dataloader', None)
        if cfg is None:
            raise ValueError(f'quantization.calib_dataloader={which!r} but the config has no '
                             f'{which}_dataloader')
        return runner.build_dataloader(copy.deepcopy(cfg), seed=runner.seed)

    # ------------------------------------------------------------------ hook points
    def before_run(self, runner) -> None:
        self._configure(runner)
        prepare_model(self._model(runner), self.observer)
        runner.logger.info(f'QuantizationHook: model prepared for int8 ({self.mode}, '
                           f'observer {self.observer})')

    def before_train(self, runner) -> None:
        if self.mode != 'qat':
            raise ValueError("quantization.mode='ptq' does not train; use mode='qat' to fine-tune, or "
                             'evaluate the PTQ model with tools/test.py')
        self._calibrate(runner, runner.train_dataloader)
        model = self._model(runner)
        enable_fake_quant(model, True)
        enable_observers(model, not self._observers_frozen)

    def before_train_epoch(self, runner) -> None:
        model = self._model(runner)
        if self.freeze_bn_epoch is not None and runner.epoch >= self.freeze_bn_epoch:
            self._freeze_bn(runner, model, f'epoch {runner.epoch}')
        if (self.freeze_observer_epoch is not None and runner.epoch >= self.freeze_observer_epoch
                and not self._observers_frozen):
            enable_observers(model, False)
            self._observers_frozen = True
            runner.logger.info(f'QuantizationHook: activation ranges frozen at epoch {runner.epoch}')

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if self.freeze_bn_iter is not None and runner.iter >= self.freeze_bn_iter:
            self._freeze_bn(runner, self._model(runner), f'iteration {runner.iter}')

    def _freeze_bn(self, runner, model: nn.Module, when: str) -> None:
        if self._bn_frozen:
            return
        n = freeze_bn(model)
        self._bn_frozen = True
        runner.logger.info(f'QuantizationHook: batch norm folded with frozen statistics in {n} layers '
                           f'from {when}')

    def after_train_epoch(self, runner) -> None:
        sync_observers(self._model(runner), 'mean')

    def before_val(self, runner) -> None:
        self._calibrate(runner, self.calib_dataloader)

    def before_test(self, runner) -> None:
        self._calibrate(runner, self.calib_dataloader)


def build_quantized_model(cfg, checkpoint: Optional[str] = None, observer: ObserverCfg = None) -> nn.Module:
    """The model of a quantization config (``quantization = dict(...)``), prepared, with ``checkpoint``.

    A QAT checkpoint restores the activation ranges too (ready for
    :func:`~mcudet.quantization.lowering.lower_to_ir`); a float checkpoint needs
    :func:`~mcudet.quantization.ptq.calibrate` first. ``observer``: the activation observer
    (default the config's ``quantization.observer``, else 'ema' for QAT and 'minmax' for PTQ).
    """
    from mmengine.config import Config
    from mmengine.runner import load_checkpoint

    from mcudet.registry import MODELS

    cfg = Config.fromfile(cfg) if isinstance(cfg, str) else cfg
    settings = dict(cfg.get('quantization', None) or {})
    observer = observer or settings.get('observer') or (
        'ema' if settings.get('mode', 'qat') == 'qat' else 'minmax')
    model = prepare_model(MODELS.build(cfg.model), observer)
    if checkpoint is not None:
        load_checkpoint(model, checkpoint, map_location='cpu', strict=False, logger='silent')
    return model.eval()


def frozen_bn_layers(model: nn.Module) -> int:
    """How many layers fold batch norm with frozen statistics (for logs and tests)."""
    return sum(int(bool(b)) for name, b in model.named_buffers() if name.endswith('bn_frozen'))


__all__ = ['QuantizationHook', 'build_quantized_model', 'frozen_bn_layers', 'sync_observers']
