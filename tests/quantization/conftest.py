"""Helpers of the quantization tests: small models with trained-looking batch norm, images, agreement."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from mmengine.config import Config
from torch import nn

from mcudet.datasets.synthetic import render_shapes_image
from mcudet.quantization import calibrate, input_quant_of, lower_to_ir, prepare_model, quantized_outputs
from mcudet.registry import MODELS
from mcudet.utils import register_all_modules
from tests.conftest import REPO

DET_CONFIG = str(REPO / 'configs/det/mbv2-w035_tinyyolo_synthetic.py')
CLS_CONFIG = str(REPO / 'configs/cls/mcunetv2-vww_synthetic.py')


@pytest.fixture(autouse=True, scope='session')
def _mcudet_scope() -> None:
    register_all_modules()


def randomize_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Batch-norm statistics and affine parameters away from their (identity) initial values."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_((torch.rand(n, generator=g) - 0.5) * 0.6)
    return model


def build(config: str, seed: int = 0, **model_cfg) -> nn.Module:
    """The float model of a config, eval mode, deterministic random weights."""
    torch.manual_seed(seed)
    cfg = Config.fromfile(config)
    cfg.model.update(model_cfg)
    model = MODELS.build(cfg.model)
    return randomize_bn(model, seed).eval()


def shape_images(n: int, size: int, seed: int = 0) -> torch.Tensor:
    """(n, 3, size, size) float tensor of rendered shape scenes (0..255), the channel order images load in."""
    imgs = [render_shapes_image(seed, i, size)[0] for i in range(n)]
    return torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float()


def forward_images(model: nn.Module, imgs: torch.Tensor):
    """The tensor-mode forward of a detector / classifier on raw images, through its data preprocessor."""
    x = model.data_preprocessor({'inputs': list(imgs), 'data_samples': None}, False)['inputs']
    return model._forward(x) if hasattr(model, 'bbox_head') else model(x, mode='tensor')


def int8_images(model: nn.Module, imgs: torch.Tensor) -> torch.Tensor:
    """What the MCU feeds for raw images: pixel - 128, in the model's channel order (NCHW int64)."""
    iq = input_quant_of(model)
    x = imgs.flip(1) if iq.channel_order == 'RGB' else imgs
    return (x - 128).long()


def calibrated(config: str, size: int, seed: int = 0, batches: int = 2, batch: int = 4,
               observer='minmax', **model_cfg) -> nn.Module:
    model = prepare_model(build(config, seed, **model_cfg), observer)
    data = [shape_images(batch, size, seed=100 + i) for i in range(batches)]
    calibrate(model, data, batches, forward=forward_images, progress=False)
    return model


def diffs(model: nn.Module, graph, q: torch.Tensor) -> np.ndarray:
    """|fake-quant - reference| over every output element of every image in ``q`` (NCHW int8 values)."""
    from mcudet.deploy import run

    got = quantized_outputs(model, q)
    out = []
    for i in range(q.shape[0]):
        ref = run(graph, [q[i:i + 1].permute(0, 2, 3, 1).numpy().astype(np.int8)])
        out += [np.abs(r.astype(int) - g[i:i + 1].astype(int)).ravel() for r, g in zip(ref, got)]
    return np.concatenate(out)


__all__ = ['CLS_CONFIG', 'DET_CONFIG', 'build', 'calibrated', 'diffs', 'forward_images', 'int8_images',
           'lower_to_ir', 'randomize_bn', 'shape_images']
