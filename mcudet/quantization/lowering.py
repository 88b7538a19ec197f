"""Export a fake-quant PyTorch model as the integer graph: :func:`lower_to_ir`.

The quantized model runs once on an int8-valued input while a
:class:`~mcudet.quantization.trace.Tracer` records every quantized module's op (their
weights and biases come from the same functions the forward pass used). The result is a
finalized :class:`mcudet.deploy.ir.Graph` whose reference output
(:func:`mcudet.deploy.reference.run`) agrees with the fake-quant model within one int8
step almost everywhere (float vs. fixed-point rounding, see tests/quantization).

Names: ops are named after their modules, with the backbone's ``backbone.`` prefix
dropped, so the backbone's ops carry the layer names of :func:`mcudet.arch.graph.build_units`
(``stem``, ``blocks.3.dw``, ``blocks.3.add``) and ``Op.group`` is the unit (``blocks.3``):
:func:`mcudet.deploy.patch_exec.plan_from_graph` gives the plan of ``make_patch_plan(spec)``.
Neck and head ops keep their prefix (``neck.concat.0``, ``bbox_head.convs_pred.2``).

Detectors: the graph outputs are the raw YOLO prediction maps (int8, NHWC, one per
scale); decoding and NMS stay outside the integer graph and are described in
``graph.metadata['yolo_decode']`` (:class:`~mcudet.deploy.yolo.YoloDecodeSpec`).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional, Union

import numpy as np
import torch
from torch import nn

from mcudet.deploy.builder import GraphBuilder
from mcudet.deploy.ir import Graph

from .convert import input_quant_of, is_prepared
from .fake_quant import qparams_of, quantized_input
from .ptq import is_calibrated
from .trace import TraceError, Tracer, tracing

IR_FORMAT = 'mcudet.int8/1'


def _flatten(out: Any) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flatten(o)]
    raise TraceError(f'lower_to_ir: the model returned {type(out).__name__}; expected tensors')


def _task(model: nn.Module) -> str:
    if hasattr(model, 'bbox_head'):
        return 'detection'
    if hasattr(model, 'head') and hasattr(model, 'extract_feat'):
        return 'classification'
    return 'backbone'


def _forward(model: nn.Module, task: str, x: torch.Tensor) -> Any:
    if task == 'detection':
        return model._forward(x)
    if task == 'classification':
        return model(x, mode='tensor')
    return model(x)


def _backbone(model: nn.Module) -> Optional[nn.Module]:
    return getattr(model, 'backbone', None) if hasattr(model, 'backbone') else model


def _op_names(model: nn.Module, task: str) -> dict[nn.Module, str]:
    names = {}
    for name, m in model.named_modules():
        if task != 'backbone' and name.startswith('backbone.'):
            name = name[len('backbone.'):]
        names[m] = name
    return names


def _input_shape(input_shape: Union[int, Sequence[int]], channels: int) -> tuple[int, int, int]:
    shape = (input_shape, input_shape) if isinstance(input_shape, int) else tuple(int(s) for s in input_shape)
    if len(shape) == 2:
        return (channels, *shape)
    if len(shape) == 3:
        return shape
    if len(shape) == 4 and shape[0] == 1:
        return shape[1:]
    raise ValueError(f'lower_to_ir: input_shape={input_shape}; give (H, W), (C, H, W) or (1, C, H, W)')


def lower_to_ir(model: nn.Module, input_shape: Union[int, Sequence[int]], name: Optional[str] = None,
                input_qparams: Optional[tuple[float, int]] = None,
                channel_order: Optional[str] = None) -> Graph:
    """The integer graph of a calibrated (PTQ) or QAT model at one input size.

    Args:
        model: A model prepared and calibrated (:func:`~mcudet.quantization.ptq.quantize_model`),
            or a QAT model: a detector, an ``ImageClassifier`` or a bare backbone.
        input_shape: ``(H, W)``, ``(C, H, W)`` or ``(1, C, H, W)`` of the (NCHW) model input.
        name: Graph name; default the backbone spec's name (the name patch plans carry).
        input_qparams: ``(scale, zero_point)`` of the int8 input; default the model's
            :class:`~mcudet.quantization.input.InputQuant` (from its data preprocessor).
        channel_order: 'RGB' or 'BGR': the order the MCU feeds. Default: the order the
            model was trained on. When it differs, the first convolution's input channels
            are permuted, so the graph reads the other order at no cost.
    """
    if not is_prepared(model):
        raise ValueError('lower_to_ir: the model is not quantized; call quantize_model / prepare_model first')
    if not is_calibrated(model):
        raise ValueError('lower_to_ir: fake quantization is off or some ranges were never observed; '
                         'calibrate the model (PTQ) or load a QAT checkpoint first')
    task = _task(model)
    iq = input_quant_of(model)
    if input_qparams is None:
        if iq is None:
            raise ValueError('lower_to_ir: the model has no input quantizer (no data preprocessor); pass '
                             'input_qparams=(scale, zero_point)')
        input_qparams = iq.qparams()
    trained_order = iq.channel_order if iq is not None else None
    backbone = _backbone(model)
    spec = getattr(backbone, 'spec', None)
    channels = spec.in_channels if spec is not None else 3
    c, h, w = _input_shape(input_shape, channels)
    permutation = None
    if channel_order is not None and trained_order is not None and channel_order.upper() != trained_order:
        if c != 3:
            raise ValueError(f'lower_to_ir: channel_order={channel_order!r} needs a 3-channel input, got {c}')
        permutation = [2, 1, 0]
    builder = GraphBuilder(name or (spec.name if spec is not None else type(model).__name__))
    scale, zp = input_qparams
    x_name = builder.input('image', (1, h, w, c), scale, zp)
    tracer = Tracer(builder, _op_names(model, task), permutation)
    x = quantized_input(torch.zeros(1, c, h, w), scale, zp)
    tracer.bind(x, x_name)
    was_training = model.training
    model.eval()
    try:
        with tracing(tracer), torch.no_grad():
            outs = _flatten(_forward(model, task, x))
    finally:
        model.train(was_training)
    for t in outs:
        builder.output(tracer.name_of(t, model))
    graph = builder.build()
    graph.metadata.update(_metadata(model, task, graph, input_qparams, iq, channel_order or trained_order))
    return graph


@torch.no_grad()
def quantized_outputs(model: nn.Module, q: torch.Tensor, input_qparams: Optional[tuple[float, int]] = None
                      ) -> list[np.ndarray]:
    """The quantized model's outputs for int8 input ``q`` (NCHW), as the graph gives them: int8 NHWC
    arrays (one per graph output, batch first). Compare with :func:`mcudet.deploy.reference.run`."""
    task = _task(model)
    if input_qparams is None:
        iq = input_quant_of(model)
        if iq is None:
            raise ValueError('quantized_outputs: the model has no input quantizer; pass input_qparams')
        input_qparams = iq.qparams()
    was_training = model.training
    model.eval()
    try:
        outs = _flatten(_forward(model, task, quantized_input(q, *input_qparams)))
    finally:
        model.train(was_training)
    arrays = []
    for t in outs:
        qp = qparams_of(t)
        if qp is None:
            raise TraceError('quantized_outputs: an output is not quantized; calibrate the model first')
        v = torch.round(t / qp[0]) + qp[1]
        if v.dim() == 4:
            v = v.permute(0, 2, 3, 1)
        arrays.append(v.clamp(-128, 127).to(torch.int8).cpu().numpy())
    return arrays


def split_tensor(graph: Graph, split: int) -> str:
    """The tensor after the first ``split`` backbone units (``make_patch_plan``'s ``split``): the
    ``split_tensor`` argument of :func:`mcudet.deploy.patch_exec.plan_from_graph` / ``run_patched``."""
    groups: list[str] = []
    last: dict[str, str] = {}
    for op in graph.ops:
        if op.group and (not groups or groups[-1] != op.group):
            if op.group in last:
                break  # the backbone's units are contiguous; a group seen again is past them
            groups.append(op.group)
        last[op.group] = op.outputs[0]
    if not 1 <= split <= len(groups):
        raise ValueError(f'split_tensor: split={split}; graph {graph.name!r} has units {groups}')
    return last[groups[split - 1]]


def _metadata(model: nn.Module, task: str, graph: Graph, input_qparams: tuple[float, int], iq,
              channel_order: Optional[str]) -> dict[str, Any]:
    scale, zp = input_qparams
    meta: dict[str, Any] = {
        'format': IR_FORMAT,
        'task': task,
        'model': type(model).__name__,
        'input': {
            'tensor': graph.inputs[0],
            'layout': 'NHWC',
            'channel_order': channel_order,
            'scale': float(scale),
            'zero_point': int(zp),
            'pixel_offset': -128,
            'mean': iq.mean if iq is not None else None,
            'std': iq.std if iq is not None else None,
            'note': 'feed q = pixel - 128 (uint8 pixel XOR 0x80 as int8); real = scale * (q - zero_point)',
        },
        'outputs': [{'tensor': t, 'scale': float(graph.tensor(t).scale),
                     'zero_point': int(graph.tensor(t).zero_point)} for t in graph.outputs],
    }
    if task == 'detection':
        from mcudet.deploy.yolo import YoloDecodeSpec
        hw = graph.tensor(graph.inputs[0]).shape[1:3]
        meta['yolo_decode'] = YoloDecodeSpec.from_head(model.bbox_head, graph, hw).to_dict()
    return meta
