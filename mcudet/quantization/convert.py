"""Turn a float model into its fake-quant twin, in place: :func:`prepare_model`.

Layers are replaced by the modules of :mod:`mcudet.quantization.modules`, which adopt the
original children under their original names, so the parameters stay the same objects
(an optimizer built before keeps working) and a float checkpoint loads into the prepared
model (``load_from=float.pth``); the quantizers add buffers (observer ranges, switches),
so a QAT checkpoint carries its quantization and reloads into a prepared model.

Supported: ``MCUNetV2Backbone`` (``ConvBNAct``, ``InvertedResidual`` with its residual
ADD, ``SqueezeExcite``), mmcv ``ConvModule`` / ``DepthwiseSeparableConvModule``,
``TinyYOLOV3Neck`` (nearest upsampling, concatenation), the YOLO prediction convs, the
classifier's ``GlobalAveragePooling`` and linear layer. The data preprocessor gets an
:class:`~mcudet.quantization.input.InputQuant` after normalisation.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Optional, Union

import torch
from mmcv.cnn import ConvModule
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from mcudet.models.backbones.layers import ConvBNAct, InvertedResidual, SqueezeExcite
from mcudet.models.backbones.patch_based import PatchBasedBackbone
from mcudet.models.necks.tiny_yolo_neck import TinyYOLOV3Neck

from .fake_quant import ActQuant
from .input import InputQuant
from .modules import QAdd, QConcat, QConvBNAct, QLinear, QMean, QMul, QuantModule, QUpsample

ObserverCfg = Union[str, dict, None]
_PREPARED = '_mcudet_quant_prepared'


def _rename_legacy_keys(module: nn.Module, child: str, keys: Sequence[str]) -> None:
    """Load ``prefix.weight`` (a float checkpoint of the bare layer) into ``prefix.<child>.weight``."""

    def hook(state_dict, prefix, *args, **kwargs) -> None:
        for k in keys:
            old, new = prefix + k, f'{prefix}{child}.{k}'
            if old in state_dict and new not in state_dict:
                state_dict[new] = state_dict.pop(old)

    module._register_load_state_dict_pre_hook(hook)


def wrap_conv(conv: nn.Conv2d, observer: ObserverCfg, where: str, act: Optional[nn.Module] = None,
              gate: bool = False) -> QConvBNAct:
    """A bare ``nn.Conv2d`` (with bias) as a QConvBNAct whose float checkpoint keys still load."""
    q = QConvBNAct(conv, None, act, observer=observer, gate=gate, where=where)
    _rename_legacy_keys(q, 'conv', ('weight', 'bias'))
    return q


def wrap_linear(linear: nn.Linear, observer: ObserverCfg) -> QLinear:
    q = QLinear(linear, observer)
    _rename_legacy_keys(q, 'linear', ('weight', 'bias'))
    return q


class QInvertedResidual(nn.Module):
    """:class:`InvertedResidual` with its residual as an int8 ADD (``add``)."""

    def __init__(self, block: InvertedResidual, observer: ObserverCfg, where: str) -> None:
        super().__init__()
        self.in_channels, self.out_channels = block.in_channels, block.out_channels
        self.stride, self.use_residual = block.stride, block.use_residual
        self.expand = (convert_module(block.expand, observer, f'{where}.expand')
                       if block.expand is not None else None)
        self.dw = convert_module(block.dw, observer, f'{where}.dw')
        self.se = convert_module(block.se, observer, f'{where}.se') if block.se is not None else None
        self.project = convert_module(block.project, observer, f'{where}.project')
        if self.use_residual:
            self.add = QAdd(observer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x if self.expand is None else self.expand(x)
        out = self.dw(out)
        if self.se is not None:
            out = self.se(out)
        out = self.project(out)
        return self.add(out, x) if self.use_residual else out


class QSqueezeExcite(nn.Module):
    """:class:`SqueezeExcite` in int8: MEAN, 1x1 conv + ReLU, 1x1 conv with the hard sigmoid folded
    in (output [0, 1] at scale 1/255), MUL (the lowering of :func:`mcudet.deploy.synthetic.lower_se`)."""

    def __init__(self, se: SqueezeExcite, observer: ObserverCfg, where: str) -> None:
        super().__init__()
        if type(se.gate) is not nn.Hardsigmoid:
            raise TypeError(f'{where}: gate {type(se.gate).__name__}; int8 squeeze-excite needs '
                            'nn.Hardsigmoid')
        self.pool = QMean((2, 3), keepdim=True, observer=observer)
        self.reduce = wrap_conv(se.reduce, observer, f'{where}.reduce', act=se.relu)
        self.expand = wrap_conv(se.expand, observer, f'{where}.expand', gate=True)
        self.scale = QMul(observer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale(x, self.expand(self.reduce(self.pool(x))))


class QTinyYOLOV3Neck(nn.Module):
    """:class:`TinyYOLOV3Neck` with int8 upsampling (``upsample``) and concatenation (``concat``)."""

    def __init__(self, neck: TinyYOLOV3Neck, observer: ObserverCfg, where: str) -> None:
        super().__init__()
        self.in_channels, self.out_channels = neck.in_channels, neck.out_channels
        self.num_scales = neck.num_scales
        self.detect = convert_module(neck.detect, observer, f'{where}.detect')
        self.lateral = convert_module(neck.lateral, observer, f'{where}.lateral')
        self.upsample = nn.ModuleList(QUpsample(2) for _ in range(self.num_scales - 1))
        self.concat = nn.ModuleList(QConcat(1, observer) for _ in range(self.num_scales - 1))

    def forward(self, feats: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        if len(feats) != self.num_scales:
            raise ValueError(f'TinyYOLOV3Neck expects {self.num_scales} feature maps, got {len(feats)}')
        feats = list(feats)[::-1]
        out = self.detect[0](feats[0])
        outs = [out]
        for i in range(1, self.num_scales):
            up = self.upsample[i - 1](self.lateral[i - 1](out))
            if up.shape[-2:] != feats[i].shape[-2:]:
                raise ValueError(f'TinyYOLOV3Neck: upsampled {tuple(up.shape[-2:])} does not match the '
                                 f'backbone feature {tuple(feats[i].shape[-2:])}; use inputs divisible by 32')
            out = self.detect[i](self.concat[i - 1]([up, feats[i]]))
            outs.append(out)
        return tuple(outs)


class QGlobalAveragePooling(nn.Module):
    """mmdet's ``GlobalAveragePooling`` neck (N, C, H, W) -> (N, C) as int8 MEAN."""

    def __init__(self, observer: ObserverCfg) -> None:
        super().__init__()
        self.mean = QMean((2, 3), keepdim=False, observer=observer)

    def forward(self, inputs):
        if isinstance(inputs, torch.Tensor):
            return self.mean(inputs)
        if len(inputs) != 1:
            raise ValueError(f'quantized GlobalAveragePooling takes one feature map, got {len(inputs)}; '
                             'use backbone out_indices with one entry')
        return (self.mean(inputs[0]),)


def _global_average_pooling_type() -> Optional[type]:
    try:
        from mmdet.models.reid import GlobalAveragePooling
    except ImportError:  # pragma: no cover - mmdet without the reid package
        return None
    return GlobalAveragePooling


def convert_module(module: nn.Module, observer: ObserverCfg, where: str) -> nn.Module:
    """The quantized replacement of ``module`` (its children converted recursively)."""
    if isinstance(module, (QuantModule, QUpsample, QInvertedResidual, QSqueezeExcite, QTinyYOLOV3Neck,
                           QGlobalAveragePooling)):
        return module
    if isinstance(module, PatchBasedBackbone):
        raise TypeError(f'{where}: PatchBasedBackbone runs tiles with its own float executor; quantize the '
                        'per-layer config (same checkpoint) and run the patch schedule on the integer graph '
                        '(mcudet.deploy.patch_exec.run_patched)')
    if isinstance(module, ConvBNAct):
        return QConvBNAct(module.conv, module.bn, getattr(module, 'act', None), observer=observer,
                          where=where)
    if isinstance(module, ConvModule):
        if module.order != ('conv', 'norm', 'act') or module.with_explicit_padding:
            raise TypeError(f'{where}: ConvModule with order {module.order} / explicit padding; int8 '
                            "lowering needs order ('conv', 'norm', 'act') and zero padding")
        return QConvBNAct(module.conv, module.norm if module.with_norm else None,
                          module.activate if module.with_activation else None,
                          names=('conv', module.norm_name or 'bn', 'activate'), observer=observer,
                          where=where)
    if isinstance(module, InvertedResidual):
        return QInvertedResidual(module, observer, where)
    if isinstance(module, SqueezeExcite):
        return QSqueezeExcite(module, observer, where)
    if isinstance(module, TinyYOLOV3Neck):
        return QTinyYOLOV3Neck(module, observer, where)
    gap = _global_average_pooling_type()
    if gap is not None and isinstance(module, gap):
        if not isinstance(module.gap, nn.AdaptiveAvgPool2d) or module.gap.output_size not in ((1, 1), 1):
            raise TypeError(f'{where}: GlobalAveragePooling with a kernel size has no int8 lowering; use the '
                            'default (global) pooling')
        return QGlobalAveragePooling(observer)
    if type(module) is nn.Conv2d:
        return wrap_conv(module, observer, where)
    if type(module) is nn.Linear:
        return wrap_linear(module, observer)
    for name, child in list(module.named_children()):
        new = convert_module(child, observer, f'{where}.{name}' if where else name)
        if new is not child:
            setattr(module, name, new)
    return module


def _input_quant_hook(module: nn.Module, args, output):
    if isinstance(output, dict) and 'inputs' in output:
        return {**output, 'inputs': module.input_quant(output['inputs'])}
    return output


def _check_converted(model: nn.Module) -> None:
    """Every conv / linear / batch norm must sit inside a quantized module."""

    def walk(m: nn.Module, prefix: str, inside: bool) -> None:
        for name, child in m.named_children():
            qual = f'{prefix}.{name}' if prefix else name
            if not inside and isinstance(child, (nn.Conv2d, nn.Linear, _BatchNorm)):
                raise TypeError(f'{qual}: {type(child).__name__} is not inside a layer that prepare_model '
                                f'knows (its parent is {type(m).__name__}); add a converter for it in '
                                'mcudet/quantization/convert.py')
            walk(child, qual, inside or isinstance(child, QuantModule))

    walk(model, '', False)


def prepare_model(model: nn.Module, observer: ObserverCfg = 'minmax') -> nn.Module:
    """Replace the layers of ``model`` by fake-quant modules, in place; returns ``model``.

    Fake quantization starts switched off and the observers on: calibrate
    (:func:`~mcudet.quantization.ptq.calibrate`) for PTQ, or train for QAT (the
    :class:`~mcudet.quantization.hooks.QuantizationHook` does both from a config).

    Args:
        model: A detector (mmdet ``YOLOV3`` with MCUNetV2 backbone and tiny YOLO neck / head),
            an ``ImageClassifier``, or a bare ``MCUNetV2Backbone``.
        observer: Range observer of every activation: ``'minmax'``, ``'percentile'``,
            ``'ema'`` or a dict with arguments (``dict(type='percentile', percentile=99.9)``).
    """
    if getattr(model, _PREPARED, False):
        return model
    convert_module(model, observer, '')
    _check_converted(model)
    pre = getattr(model, 'data_preprocessor', None)
    if pre is not None and hasattr(pre, 'mean') and hasattr(pre, '_enable_normalize'):
        pre.input_quant = InputQuant.from_preprocessor(pre)
        pre.register_forward_hook(_input_quant_hook)
    setattr(model, _PREPARED, True)
    return model


def is_prepared(model: nn.Module) -> bool:
    return bool(getattr(model, _PREPARED, False))


def input_quant_of(model: nn.Module) -> Optional[InputQuant]:
    """The model's input quantizer (installed on its data preprocessor), if any."""
    pre = getattr(model, 'data_preprocessor', None)
    return getattr(pre, 'input_quant', None) if pre is not None else None


def act_quants(model: nn.Module) -> list[ActQuant]:
    return [m for m in model.modules() if isinstance(m, ActQuant)]
