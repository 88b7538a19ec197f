"""A config and a checkpoint to the integer graph: what ``tools/export.py CONFIG CKPT`` runs.

* A QAT checkpoint (written by a config with ``quantization = dict(mode='qat')`` and the
  :class:`~mcudet.quantization.hooks.QuantizationHook`) carries its activation ranges: the
  graph is lowered from them, no calibration.
* A float checkpoint is quantized after training (PTQ): the ranges are calibrated on
  ``calib_images`` images of the config's ``train_dataloader`` (its pipeline, batch size and
  order), with the config's ``quantization.observer`` or min / max.

The input size is the one the config's test pipeline produces, and the sample frames for the
bit-exactness checks are real test images as the MCU would see them (``pixel - 128``).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np
import torch

from mcudet.deploy.ir import Graph

from .convert import input_quant_of
from .hooks import build_quantized_model
from .lowering import lower_to_ir
from .ptq import calibrate, default_forward, is_calibrated


@dataclass
class QuantizedExport:
    """The lowered graph of a config and what it was made from.

    Args:
        graph: The finalized integer graph.
        frames: Int8 NHWC frames ([1, H, W, C]) of test images, for bit-exactness checks.
        mode: 'qat' (ranges read from the checkpoint) or 'ptq' (calibrated here).
        calib_images: Images the PTQ calibration observed (0 for 'qat').
    """

    graph: Graph
    frames: list[np.ndarray]
    mode: str
    calib_images: int


def _loader(cfg, key: str, config: str):
    from mmengine.runner import Runner

    loader_cfg = cfg.get(key, None)
    if loader_cfg is None:
        raise ValueError(f'{config}: the config has no {key}; export needs it to '
                         f'{"calibrate" if key == "train_dataloader" else "read sample images"}')
    loader_cfg = copy.deepcopy(loader_cfg)
    loader_cfg['num_workers'] = 0
    loader_cfg['persistent_workers'] = False
    return Runner.build_dataloader(loader_cfg, seed=0)


def quantize_config(config: Union[str, Path], checkpoint: Union[str, Path], calib_images: int = 32,
                    num_frames: int = 1, progress: bool = True,
                    cfg_options: Optional[dict] = None) -> QuantizedExport:
    """Build the model of ``config``, load ``checkpoint``, quantize it (QAT ranges or PTQ) and lower it.

    Args:
        config: An mmengine config (detector or classifier).
        checkpoint: A float checkpoint (PTQ) or a QAT checkpoint.
        calib_images: PTQ calibration images (rounded up to whole batches).
        num_frames: Test images returned as int8 frames.
        progress: Show the calibration progress bar.
        cfg_options: Settings merged into the config (``--cfg-options``).
    """
    from mmengine.config import Config

    from mcudet.utils import register_all_modules

    register_all_modules(init_default_scope=True)
    config = str(config)
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if not Path(checkpoint).is_file():
        raise FileNotFoundError(f'{checkpoint}: no such checkpoint')
    settings = dict(cfg.get('quantization', None) or {})
    observer = settings.get('observer') or 'minmax'
    model = build_quantized_model(cfg, str(checkpoint), observer=observer)
    mode, used = 'qat', 0
    if not is_calibrated(model):
        if calib_images < 1:
            raise ValueError(f'{checkpoint} holds no activation ranges (a float checkpoint): calibrate on '
                             'at least one image (--calib N)')
        loader = _loader(cfg, 'train_dataloader', config)
        batch_size = int(cfg.train_dataloader.get('batch_size', 1))
        seen = []

        def forward(m, batch):
            seen.append(len(batch['inputs']) if isinstance(batch, dict) else len(batch))
            return default_forward(m, batch)

        calibrate(model, loader, math.ceil(calib_images / batch_size), forward=forward, progress=progress)
        used, mode = sum(seen), 'ptq'
    model.eval()
    iq = input_quant_of(model)
    frames: list[np.ndarray] = []
    hw = None
    key = 'test_dataloader' if cfg.get('test_dataloader', None) is not None else 'val_dataloader'
    with torch.no_grad():
        for data in _loader(cfg, key, config):
            x = model.data_preprocessor(data, False)['inputs']
            hw = hw or tuple(int(s) for s in x.shape[-2:])
            if tuple(x.shape[-2:]) != hw:  # a keep-ratio pipeline: only frames of the graph's size
                continue
            for q in iq.int8(x):
                frames.append(q.permute(1, 2, 0)[None].numpy().astype(np.int8))
            if len(frames) >= num_frames:
                break
    if hw is None:
        raise ValueError(f'{config}: {key} yielded no image')
    graph = lower_to_ir(model, hw)
    graph.metadata['quantization'] = {'mode': mode, 'calib_images': used, 'observer': observer,
                                      'checkpoint': str(checkpoint), 'config': config}
    return QuantizedExport(graph, frames[:num_frames], mode, used)


__all__ = ['QuantizedExport', 'quantize_config']
