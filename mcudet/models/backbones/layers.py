"""The building blocks of :class:`MCUNetV2Backbone`, kept regular for int8 lowering.

Every convolution is a :class:`ConvBNAct`: an ``nn.Sequential`` whose children are
exactly ``conv`` (``nn.Conv2d``, no bias), ``bn`` (the norm layer) and, when the spec
asks for one, ``act`` (``nn.ReLU`` or ``nn.ReLU6``). BN folding and the int8 exporter
therefore find each conv/bn/act triplet by name, and ``torch.ao`` fusion lists such as
``['stem.conv', 'stem.bn', 'stem.act']`` work as they are. Padding is always
``kernel_size // 2`` on every side, the padding that :mod:`mcudet.arch.graph` and the
patch planner assume.

Squeeze-excite uses the hard sigmoid ``ReLU6(x + 3) / 6`` (``nn.Hardsigmoid``), as the
official MCUNet / ProxylessNAS / once-for-all ``SEModule`` does: it is piecewise linear,
so int8 lowering expresses it with a clamp and a fixed-point multiply instead of a
lookup table, and converted official checkpoints compute the same function.
"""
from __future__ import annotations

from typing import Optional

import torch
from mmcv.cnn import build_norm_layer
from torch import nn

from mcudet.arch.spec import BlockSpec

_ACTIVATIONS = {'relu': nn.ReLU, 'relu6': nn.ReLU6}


def build_act(act: Optional[str], where: str) -> Optional[nn.Module]:
    """``'relu'`` / ``'relu6'`` -> an in-place module; ``None`` -> no activation."""
    if act is None:
        return None
    if act not in _ACTIVATIONS:
        raise ValueError(f'{where}: activation {act!r} is not supported; use one of '
                         f"{sorted(_ACTIVATIONS)} or None")
    return _ACTIVATIONS[act](inplace=True)


class ConvBNAct(nn.Sequential):
    """Convolution (no bias) -> norm -> optional activation, children named conv/bn/act.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel_size: Square kernel side; padding is ``kernel_size // 2``.
        stride: Convolution stride.
        groups: ``in_channels`` for a depthwise convolution, else 1.
        act: 'relu', 'relu6' or None.
        norm_cfg: mmcv norm config, e.g. ``dict(type='BN', eps=1e-3)``.
        where: Layer name used in error messages.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, stride: int = 1,
                 groups: int = 1, act: Optional[str] = 'relu6',
                 norm_cfg: Optional[dict] = None, where: str = 'conv') -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2,
                              groups=groups, bias=False)
        self.bn = build_norm_layer(norm_cfg or dict(type='BN'), out_channels)[1]
        act_layer = build_act(act, where)
        if act_layer is not None:
            self.act = act_layer


class SqueezeExcite(nn.Module):
    """Global average pool -> 1x1 reduce + ReLU -> 1x1 expand -> hard sigmoid -> scale.

    Args:
        channels: Channels of the tensor being re-weighted.
        se_channels: Hidden width of the bottleneck.
    """

    def __init__(self, channels: int, se_channels: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, se_channels, 1, bias=True)
        self.relu = nn.ReLU(inplace=True)
        self.expand = nn.Conv2d(se_channels, channels, 1, bias=True)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.mean(dim=(2, 3), keepdim=True)
        y = self.gate(self.expand(self.relu(self.reduce(y))))
        return x * y


class InvertedResidual(nn.Module):
    """Mobile inverted residual block: [expand 1x1] -> dw kxk -> [SE] -> project 1x1 [+ x].

    Child names equal the layer names of :func:`mcudet.arch.graph.build_units`
    (``blocks.3.expand``, ``blocks.3.dw``, ``blocks.3.se``, ``blocks.3.project``);
    ``expand`` and ``se`` are ``None`` when the block has none.

    Args:
        in_channels: Input channels.
        block: The block's spec.
        norm_cfg: mmcv norm config.
        where: Block name used in error messages.
    """

    def __init__(self, in_channels: int, block: BlockSpec, norm_cfg: Optional[dict] = None,
                 where: str = 'block') -> None:
        super().__init__()
        mid = block.hidden_channels(in_channels)
        self.in_channels = in_channels
        self.out_channels = block.out_channels
        self.stride = block.stride
        self.use_residual = block.has_residual(in_channels)
        self.expand: Optional[ConvBNAct] = None
        self.se: Optional[SqueezeExcite] = None
        if block.has_expand(in_channels):
            self.expand = ConvBNAct(in_channels, mid, 1, 1, act=block.act, norm_cfg=norm_cfg,
                                    where=f'{where}.expand')
        self.dw = ConvBNAct(mid, mid, block.kernel_size, block.stride, groups=mid, act=block.act,
                            norm_cfg=norm_cfg, where=f'{where}.dw')
        se = block.se_channels(in_channels)
        if se:
            self.se = SqueezeExcite(mid, se)
        self.project = ConvBNAct(mid, block.out_channels, 1, 1, act=None, norm_cfg=norm_cfg,
                                 where=f'{where}.project')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x if self.expand is None else self.expand(x)
        out = self.dw(out)
        if self.se is not None:
            out = self.se(out)
        out = self.project(out)
        return x + out if self.use_residual else out
