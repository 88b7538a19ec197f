"""A light YOLOv3-style neck built from int8-friendly ops."""
from collections.abc import Sequence
from typing import Optional

import torch
import torch.nn.functional as F
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
from mmengine.model import BaseModule
from torch import Tensor

from mcudet.registry import MODELS


@MODELS.register_module()
class TinyYOLOV3Neck(BaseModule):
    """YOLOv3's top-down neck with depthwise-separable blocks.

    Like mmdet's ``YOLOV3Neck`` it takes backbone features from high resolution to
    low and returns them from low resolution (stride 32) to high, the order
    ``YOLOV3Head`` expects. Every op is one an int8 MCU runtime has: 1x1 conv,
    depthwise 3x3 conv, nearest-neighbour 2x upsampling and channel concat.

    Args:
        in_channels: Channels of the backbone features, high resolution first.
        out_channels: Channels of each output, low resolution first (one per scale).
        norm_cfg: Normalisation config.
        act_cfg: Activation; ReLU6 keeps activation ranges int8-friendly.
        init_cfg: Initialisation config.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 out_channels: Sequence[int],
                 norm_cfg: Optional[dict] = None,
                 act_cfg: Optional[dict] = None,
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        norm_cfg = norm_cfg or dict(type='BN', requires_grad=True)
        act_cfg = act_cfg or dict(type='ReLU6')
        if len(in_channels) != len(out_channels):
            raise ValueError(f'TinyYOLOV3Neck: in_channels {list(in_channels)} and out_channels '
                             f'{list(out_channels)} need one entry per scale')
        self.in_channels = list(in_channels)
        self.out_channels = list(out_channels)
        self.num_scales = len(in_channels)
        cfg = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        rev_in = self.in_channels[::-1]
        self.detect = torch.nn.ModuleList(
            [DepthwiseSeparableConvModule(rev_in[0], self.out_channels[0], 3, padding=1, **cfg)])
        self.lateral = torch.nn.ModuleList()
        for i in range(1, self.num_scales):
            self.lateral.append(ConvModule(self.out_channels[i - 1], self.out_channels[i], 1, **cfg))
            self.detect.append(DepthwiseSeparableConvModule(
                rev_in[i] + self.out_channels[i], self.out_channels[i], 3, padding=1, **cfg))

    def forward(self, feats: Sequence[Tensor]) -> tuple[Tensor, ...]:
        if len(feats) != self.num_scales:
            raise ValueError(f'TinyYOLOV3Neck expects {self.num_scales} feature maps (backbone '
                             f'out_indices), got {len(feats)}')
        feats = list(feats)[::-1]
        out = self.detect[0](feats[0])
        outs = [out]
        for i in range(1, self.num_scales):
            up = F.interpolate(self.lateral[i - 1](out), scale_factor=2, mode='nearest')
            if up.shape[-2:] != feats[i].shape[-2:]:
                raise ValueError(
                    f'TinyYOLOV3Neck: upsampled {tuple(up.shape[-2:])} does not match the backbone feature '
                    f'{tuple(feats[i].shape[-2:])}; pad inputs to a multiple of the largest stride '
                    '(data_preprocessor.pad_size_divisor=32)')
            out = self.detect[i](torch.cat((up, feats[i]), 1))
            outs.append(out)
        return tuple(outs)
